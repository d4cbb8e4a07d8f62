"""Build and check the course notebooks from their jupytext sources.

Every notebook has one source, a ``py:percent`` file under ``source/``:

* ``source/chapters/NN_name.py`` -> ``chapters/NN_name.ipynb``, executed, committed with outputs;
* ``source/labs/NN_name.py`` -> ``labs/solutions/NN_name.ipynb`` (the answers) and
  ``labs/NN_name.ipynb`` (the learner's template: every block between ``# BEGIN SOLUTION`` and
  ``# END SOLUTION`` becomes ``raise NotImplementedError``), both committed without outputs. The
  solution is executed during the build so a broken lab never gets written.

Usage::

    python tools/notebooks.py build                 # everything
    python tools/notebooks.py build 01_cross_entropy # one chapter and/or lab, by name
    python tools/notebooks.py check                 # CI: notebooks agree with their sources
    python tools/notebooks.py links                 # badges and install cells after an address change
    python tools/notebooks.py zh                    # only the Chinese edition (tools/zh.py), executed

``build``, ``check`` and ``links`` also build/check the Chinese notebooks (``zh/``, see ``tools/zh.py``):
``build`` executes the zh chapters after the English ones, ``links`` only rewrites their text.

A code cell tagged ``strip-output`` (``# %% tags=["strip-output"]``) runs but is committed without
outputs (used for demo launch cells: a dead localhost iframe helps nobody).

The course's address is written once, as ``Repository`` in ``pyproject.toml``'s ``[project.urls]``.
Sources write ``{{colab_badge}}`` where the Colab badge goes and ``{{repository}}`` in the Colab
install cell; the build fills them in, the badge pointing at each notebook's own path. After
changing the address (a fork), ``python tools/notebooks.py links`` rewrites those cells in the
committed notebooks without running them again.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import time
import tomllib
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
COLAB = "https://colab.research.google.com/github/{repo}/blob/main/{path}"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE, REPOSITORY = "{{colab_badge}}", "{{repository}}"  # placeholders in the sources
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}
SOLUTION_BLOCK = re.compile(
    r"^([ \t]*)# BEGIN SOLUTION[^\n]*\n.*?^[ \t]*# END SOLUTION[^\n]*(\n|$)", re.S | re.M
)
TIMEOUT_S = 600
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def repository_url() -> str:
    """The course's address, from ``[project.urls] Repository`` in pyproject.toml."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return project["urls"]["Repository"].rstrip("/")


def colab_url(path: str) -> str:
    """The Colab address of the notebook at ``path`` (relative to the repository root)."""
    repo = repository_url().removeprefix("https://github.com/")
    return COLAB.format(repo=repo, path=path)


def fill_links(notebook: nbformat.NotebookNode, target: Path) -> nbformat.NotebookNode:
    """Replace the placeholders with the badge of ``target`` and the repository's address (in place)."""
    badge = f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(target.relative_to(ROOT).as_posix())})"
    for cell in notebook.cells:
        cell.source = cell.source.replace(BADGE, badge).replace(REPOSITORY, repository_url())
    return notebook


def chapter_target(source: Path) -> Path:
    return ROOT / "chapters" / f"{source.stem}.ipynb"


def lab_targets(source: Path) -> tuple[Path, Path]:
    """(solution, template) paths of a lab source."""
    return ROOT / "labs" / "solutions" / f"{source.stem}.ipynb", ROOT / "labs" / f"{source.stem}.ipynb"


def read_source(source: Path) -> nbformat.NotebookNode:
    """The notebook a source describes, with clean metadata and no outputs."""
    notebook = jupytext.read(source, fmt="py:percent")
    notebook.metadata = {"kernelspec": KERNEL, "language_info": {"name": "python"}}
    for index, cell in enumerate(notebook.cells):
        cell.id = f"{source.stem[:2]}-{index:03d}"
        cell.metadata.pop("lines_to_next_cell", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return notebook


def make_template(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The learner's version: solution blocks replaced by ``raise NotImplementedError``."""
    template = copy.deepcopy(solution)
    for cell in template.cells:
        if cell.cell_type == "code":
            cell.source = SOLUTION_BLOCK.sub(
                lambda m: (
                    f"{m.group(1)}# TODO: your code here\n{m.group(1)}raise NotImplementedError{m.group(2)}"
                ),
                cell.source,
            )
    return template


def execute(notebook: nbformat.NotebookNode, cwd: Path) -> float:
    """Run every cell in a fresh kernel with ``cwd`` as working directory; return seconds taken.

    The kernel draws with Jupyter's inline backend, so plots are saved in the notebook as images:
    it inherits this process's environment, and the test environment's ``MPLBACKEND=Agg`` (which
    ``make notebooks`` also sets) would make every ``plt.show()`` draw nowhere.
    """
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    start = time.perf_counter()
    NotebookClient(
        notebook, timeout=TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    for cell in notebook.cells:
        if cell.cell_type == "code" and "strip-output" in cell.metadata.get("tags", []):
            cell.outputs = []
    notebook.metadata = {"kernelspec": KERNEL, "language_info": {"name": "python"}}
    return time.perf_counter() - start


def write(notebook: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")


def build_chapter(source: Path) -> None:
    notebook = fill_links(read_source(source), chapter_target(source))
    seconds = execute(notebook, ROOT / "chapters")
    write(notebook, chapter_target(source))
    print(f"chapters/{source.stem}.ipynb: executed in {seconds:.1f} s")


def lab_notebooks(source: Path) -> list[tuple[Path, nbformat.NotebookNode]]:
    """(path, notebook) of a lab's solution and template, links filled in."""
    solution_path, template_path = lab_targets(source)
    return [
        (solution_path, fill_links(read_source(source), solution_path)),
        (template_path, fill_links(make_template(read_source(source)), template_path)),
    ]


def build_lab(source: Path) -> None:
    (solution_path, solution), (template_path, template) = lab_notebooks(source)
    executed = copy.deepcopy(solution)
    seconds = execute(executed, ROOT / "labs" / "solutions")
    write(solution, solution_path)
    write(template, template_path)
    print(f"labs/{source.stem}.ipynb (+ solution): solution executed in {seconds:.1f} s")


def sources(kind: str, names: list[str]) -> list[Path]:
    found = sorted((SOURCE / kind).glob("*.py"))
    if names:
        found = [p for p in found if p.stem in names or p.stem[:2] in names]
    return found


def cell_pairs(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


def check() -> list[str]:
    """Problems found: notebooks that disagree with their sources, or chapters not executed."""
    problems = []
    for source in sources("chapters", []):
        target = chapter_target(source)
        if not target.exists():
            problems.append(f"{target.relative_to(ROOT)} is missing: run `make notebooks`")
            continue
        committed = nbformat.read(target, as_version=4)
        if cell_pairs(committed) != cell_pairs(fill_links(read_source(source), target)):
            problems.append(f"{target.relative_to(ROOT)} differs from {source.relative_to(ROOT)}: rebuild it")
        unexecuted = [
            i for i, c in enumerate(committed.cells) if c.cell_type == "code" and c.execution_count is None
        ]
        if unexecuted:
            problems.append(f"{target.relative_to(ROOT)}: code cells {unexecuted} were never executed")
        badge = colab_url(f"chapters/{target.name}")
        if not committed.cells or badge not in committed.cells[0].source:
            problems.append(f"{target.relative_to(ROOT)}: the first cell lacks the Colab badge ({badge})")
    for source in sources("labs", []):
        for target, expected in lab_notebooks(source):
            if not target.exists() or target.read_text(encoding="utf-8") != nbformat.writes(expected) + "\n":
                problems.append(
                    f"{target.relative_to(ROOT)} is out of date with {source.relative_to(ROOT)}: rebuild it"
                )
    for orphan in [*(ROOT / "chapters").glob("*.ipynb"), *(ROOT / "labs").glob("*.ipynb")]:
        kind = "chapters" if orphan.parent.name == "chapters" else "labs"
        if not (SOURCE / kind / f"{orphan.stem}.py").exists():
            problems.append(f"{orphan.relative_to(ROOT)} has no source in source/{kind}/")
    return problems


def update_links() -> None:
    """Rewrite the badge and install cells of the committed notebooks from their sources, without
    running anything: labs are written afresh, chapters keep their outputs."""
    for source in sources("chapters", []):
        target = chapter_target(source)
        committed, raw = nbformat.read(target, as_version=4), read_source(source)
        expected = fill_links(copy.deepcopy(raw), target)
        if len(committed.cells) != len(raw.cells):
            raise SystemExit(f"{target.relative_to(ROOT)} has other cells than its source: rebuild it")
        for cell, raw_cell, new in zip(committed.cells, raw.cells, expected.cells):
            if BADGE in raw_cell.source or REPOSITORY in raw_cell.source:
                cell.source = new.source
        write(committed, target)
    for source in sources("labs", []):
        for target, notebook in lab_notebooks(source):
            write(notebook, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["build", "check", "links", "zh"])
    parser.add_argument("names", nargs="*", help="notebook names or numbers (default: all)")
    args = parser.parse_args(argv)
    import zh  # the Chinese edition, built from the notebooks this module writes

    if args.command in ("links", "zh"):
        if args.command == "links":
            update_links()
        problems = zh.build(args.names, execute=args.command == "zh")
        print("\n".join(problems)) if problems else None
        return 1 if problems else 0
    if args.command == "check":
        problems = check() + zh.check()
        for problem in problems:
            print(problem)
        print("notebooks agree with their sources" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    for source in sources("chapters", args.names):
        build_chapter(source)
    for source in sources("labs", args.names):
        build_lab(source)
    problems = zh.build(args.names)
    print("\n".join(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
