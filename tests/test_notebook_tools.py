"""Notebook tooling: templates are generated from solutions, and drift is caught."""

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402


def solution_notebook(code: str) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Lab"), nbformat.v4.new_code_cell(code)]
    return notebook


def test_solution_blocks_become_not_implemented_with_their_indentation():
    code = (
        "def softmax(x):\n"
        "    # BEGIN SOLUTION\n"
        "    e = (x - x.max()).exp()\n"
        "    return e / e.sum()\n"
        "    # END SOLUTION\n"
        "\n"
        "check(softmax)"
    )
    template = notebooks.make_template(solution_notebook(code))
    assert template.cells[1].source == (
        "def softmax(x):\n    # TODO: your code here\n    raise NotImplementedError\n\ncheck(softmax)"
    )
    assert template.cells[0].source == "# Lab"


def test_several_blocks_in_one_cell_are_each_replaced():
    code = "# BEGIN SOLUTION\na = 1\n# END SOLUTION\nb = 2\n# BEGIN SOLUTION\nc = 3\n# END SOLUTION"
    template = notebooks.make_template(solution_notebook(code)).cells[1].source
    assert template.count("raise NotImplementedError") == 2
    assert "a = 1" not in template and "c = 3" not in template and "b = 2" in template


def test_every_lab_template_in_the_repo_hides_its_answers():
    sources = sorted((ROOT / "source" / "labs").glob("*.py"))
    if not sources:
        pytest.skip("no lab sources yet")
    for source in sources:
        template = nbformat.read(ROOT / "labs" / f"{source.stem}.ipynb", as_version=4)
        code = "\n".join(c.source for c in template.cells if c.cell_type == "code")
        assert "BEGIN SOLUTION" not in code, source.name
        assert "raise NotImplementedError" in code, source.name


def test_committed_notebooks_agree_with_their_sources():
    assert notebooks.check() == []


def test_check_catches_a_hand_edited_chapter(tmp_path, monkeypatch):
    (tmp_path / "source" / "chapters").mkdir(parents=True)
    (tmp_path / "chapters").mkdir()
    (tmp_path / "labs").mkdir()
    source = tmp_path / "source" / "chapters" / "99_demo.py"
    source.write_text("# %% [markdown]\n# # Demo\n\n# %%\nprint(1)\n")
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    monkeypatch.setattr(notebooks, "SOURCE", tmp_path / "source")
    notebook = notebooks.read_source(source)
    notebook.cells[1].source = "print(2)"  # edited by hand, not rebuilt
    notebooks.write(notebook, tmp_path / "chapters" / "99_demo.ipynb")
    problems = notebooks.check()
    assert any("differs from source/chapters/99_demo.py" in p for p in problems)
    assert any("never executed" in p for p in problems)
    assert any("Colab badge" in p for p in problems)


def test_every_badge_points_at_its_own_notebook_and_installs_from_the_project_url():
    """The address lives in pyproject.toml only: each committed notebook's first cell has the Colab
    badge of its own path, its install cell installs from that address, and the sources spell
    neither out."""
    repository = notebooks.repository_url()
    assert repository.startswith("https://github.com/")
    found = sorted(
        [*notebooks.ROOT.glob("chapters/*.ipynb"), *notebooks.ROOT.glob("labs/*.ipynb")]
        + [*notebooks.ROOT.glob("labs/solutions/*.ipynb")]
    )
    assert len(found) >= 30
    for path in found:
        notebook = nbformat.read(path, as_version=4)
        own = notebooks.colab_url(path.relative_to(notebooks.ROOT).as_posix())
        badges = re.findall(r"https://colab\.research\.google\.com/github/[^)\s]+", notebook.cells[0].source)
        assert badges == [own], (path, badges)
        code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
        assert f"mmlab @ git+{repository}" in code, path
        assert "{{" not in notebook.cells[0].source and "git+{{" not in code, path
    for source in [*notebooks.SOURCE.glob("chapters/*.py"), *notebooks.SOURCE.glob("labs/*.py")]:
        text = source.read_text(encoding="utf-8")
        assert notebooks.BADGE in text and notebooks.REPOSITORY in text and "github.com/" not in text, source


def test_chapters_leave_their_demo_running_and_show_training_progress():
    """Run All must end with a live demo (show() closes the previous one by itself), and training
    cells show their progress bar (its output is marked NBVAL_IGNORE_OUTPUT, not switched off)."""
    for source in sorted(notebooks.SOURCE.glob("chapters/*.py")):
        text = source.read_text(encoding="utf-8")
        assert "progress=False" not in text, source.name
        cells = re.split(r"(?m)^# %%", text)
        shown = [i for i, cell in enumerate(cells) if re.search(r"\bshow\(", cell)]
        if shown:
            later = "".join(cells[shown[-1] :])
            assert not re.search(r"\.close\(\)", later), f"{source.name} closes its demo after showing it"


def test_nbval_waits_a_minute_for_a_busy_kernels_output():
    """The repository's conftest.py lengthens nbval's 5 s wait for a cell's last output messages."""
    from nbval.plugin import IPyNbCell

    assert IPyNbCell.__init__.__name__ == "_patient_cell_init"
