# mmlab: two commands.
#   make lab    install the course into .venv and open JupyterLab on chapters/ (127.0.0.1 only)
#   make test   install the test extras too, then lint, unit tests and every notebook, English and Chinese (as CI does)
# Other targets: make notebooks (rebuild notebooks from source/, both editions), make runall (Run All of
# each demo chapter in JupyterLab, slow; the Chinese edition, EDITION=en for the English), make bench,
# make doctor, make clean.

PYTHON ?= python3
VENV   ?= .venv
# Any torch >= 2.4 works; CI pins the CPU build that lies on its machine's disk: TORCH=torch==2.13.0
TORCH  ?= torch>=2.4
PORT   ?= 8888
# The edition whose demo chapters `make runall` runs: zh (zh/chapters/) or en (chapters/)
EDITION ?= zh
PY     := $(VENV)/bin/python
# Notebooks run two at a time under pytest-xdist: one thread each keeps the two cores busy
# without oversubscription.
TEST_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False \
            MPLBACKEND=Agg PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false
NBVAL_FLAGS := -p no:python --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
               --nbval-cell-timeout=600 -n 2 --dist loadscope --runxfail --durations=0

.PHONY: lab test install install-test lint unit runall nbval notebooks check-notebooks browser bench doctor clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(PY) pyproject.toml
	$(PY) -m pip install "$(TORCH)" -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install "$(TORCH)" -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Containers often run as root, where JupyterLab refuses to start without --allow-root.
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: install
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(PORT) --ServerApp.root_dir=. \
		--LabApp.default_url=/lab/tree/chapters $(AS_ROOT)

test: install-test browser lint check-notebooks unit nbval runall

lint: install-test
	$(VENV)/bin/ruff check mmlab tests tools bench source
	$(VENV)/bin/ruff format --check mmlab tests tools bench

check-notebooks: install-test
	$(PY) tools/notebooks.py check

# One torch thread per worker: two workers on two cores, each spinning two threads, made the small
# models' training several times slower (a chat model: 12 s with one thread, minutes with two).
unit: install-test
	$(TEST_ENV) OMP_NUM_THREADS=1 $(PY) -m pytest tests -n 2 --durations=25 -m "not runall"

# Run All of every chapter with a demo, in JupyterLab in headless Chromium: the slowest phase, run
# last and alone (two chapters at once, one torch thread each, as nbval runs them). It runs the
# Chinese edition's demo chapters (the English ones are executed by nbval), asking their demos in Chinese.
runall: install-test browser
	$(TEST_ENV) OMP_NUM_THREADS=1 MMLAB_EDITION=$(EDITION) $(PY) -m pytest tests/test_runall_browser.py \
		-n 2 -m runall --durations=0

# Every English notebook, and the Chinese notebooks Run All does not execute: the zh chapters without
# a demo and the zh labs (the list comes from tools/zh.py, which knows which chapters show a demo).
ZH_NBVAL = $(shell $(PY) tools/zh.py nbval)
nbval: install-test
	$(TEST_ENV) OMP_NUM_THREADS=1 $(PY) -m pytest $(NBVAL_FLAGS) chapters labs $(ZH_NBVAL)

# Debian's Chromium and ChromeDriver for the browser tests (root and apt-get needed; skipped otherwise),
# and a Chinese font, without which the Chinese edition's Run All screenshots show boxes for every character.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
		|| echo "could not install chromium: browser tests will be skipped"; \
	else echo "no chromium and no root apt-get: browser tests will be skipped"; fi
	@if fc-list :lang=zh 2>/dev/null | grep -q .; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null) \
		|| echo "could not install a Chinese font: Chinese text in the screenshots will show as boxes"; \
	else echo "no Chinese font and no root apt-get: Chinese text in the screenshots will show as boxes"; fi

notebooks: install-test
	$(TEST_ENV) $(PY) tools/notebooks.py build $(NB)

bench: install-test
	$(PY) -m bench

doctor: install
	$(PY) -m mmlab doctor

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info tests/artifacts
