"""The Chinese edition (中文版, issue 21): built from the English notebooks and translation sidecars.

Each English source ``source/<kind>/NN_name.py`` may have a sidecar ``source/zh/<kind>/NN_name.yml``
that maps every markdown cell's **stable id** to its translation::

    01-cross-entropy-and-learning:          # the cell that opens with the heading "01 · Cross-entropy..."
      en_hash: 3f0c9a1b2d4e5f60             # first 16 hex digits of sha256(English cell text)
      zh: |-
        # 01 · 交叉熵与学习
        {{colab_badge}}
    1-softmax-and-why-it-must-subtract-the-maximum/1:   # the 2nd markdown cell of that section

A cell's id is the slug of the heading it opens with, or of the last heading above it plus its
ordinal among the markdown cells of that section: code cells and other sections can change freely
without renaming it. The Chinese notebooks have the English notebooks' cells (the same code cells,
from the same source) with the markdown replaced, one cell added after the install cell that switches
the package to Chinese, and the Colab badge pointing at their own path. They are executed, not
copied: many outputs follow the language (check messages, plot labels, trainer and demo texts), so a
zh chapter's outputs are what a learner running it in Chinese sees:

* ``chapters/NN.ipynb`` -> ``zh/chapters/NN.ipynb``, executed with ``zh/chapters`` as working
  directory (what it writes there, ``runs/``, is git-ignored), committed with outputs;
* ``labs/NN.ipynb`` and ``labs/solutions/NN.ipynb`` -> ``zh/labs/NN.ipynb``,
  ``zh/labs/solutions/NN.ipynb``, committed without outputs as in English; the zh solution is
  executed during the build, so a broken one is never written.

CI executes the zh chapters too: nbval those without a demo and the zh labs (``nbval`` prints that
list for the Makefile), Run All in JupyterLab those with one (``demo_chapters()``).

Usage (``tools/notebooks.py build`` and ``check`` call this too)::

    python tools/zh.py build [NAMES]   # execute and write the Chinese notebooks of every translated source
    python tools/zh.py text [NAMES]    # a translation changed: refresh the markdown, keep the outputs
    python tools/zh.py check           # missing/stale translations, zh notebooks whose code differs from
                                       # the English or that were not executed; prints coverage
    python tools/zh.py nbval           # the zh notebooks nbval executes (those Run All does not)
    python tools/zh.py status NAME     # what a translator has to do: each missing/stale cell in English
    python tools/zh.py stub NAME       # add empty entries for the untranslated cells to the sidecar
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import notebooks
import yaml
from notebooks import ROOT, SOURCE

ZH = ROOT / "zh"
SIDECARS = SOURCE / "zh"
HASH_DIGITS = 16
LANGUAGE_CELL_ID = "zh-language"
LANGUAGE_CELL = 'import mmlab\n\nmmlab.set_language("zh")  # 检查信息与演示界面使用中文'
PLACEHOLDERS = (notebooks.BADGE, notebooks.REPOSITORY)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
# a chapter that shows a demo calls show( or demos.show( outside a comment (not plt.show()
SHOWS_A_DEMO = re.compile(r"^[^#\n]*(?:(?<![\w.])show|demos\.show)\(", re.MULTILINE)
# the course's address in the install cell (tools/notebooks.py links may change it)
INSTALL_ADDRESS = re.compile(r"git\+[^\"']*")


def en_hash(text: str) -> str:
    """The hash a translation stores of the English text it translates."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_DIGITS]


def slug(heading: str) -> str:
    """``"1. Softmax, and why"`` -> ``"1-softmax-and-why"`` (ASCII letters, digits and hyphens)."""
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-") or "section"


def first_heading(text: str) -> str | None:
    """The first markdown heading of ``text``, ignoring ``#`` lines inside fenced code."""
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := HEADING.match(line)):
            return match.group(1)
    return None


def cell_ids(cells: list) -> list[str | None]:
    """The stable id of each markdown cell (``None`` for code cells); see the module docstring."""
    ids: list[str | None] = []
    seen: dict[str, int] = {}
    section, ordinal = "top", -1
    for cell in cells:
        if cell.cell_type != "markdown":
            ids.append(None)
            continue
        heading = first_heading(cell.source)
        if heading is not None:
            base = slug(heading)
            seen[base] = seen.get(base, 0) + 1
            section, ordinal = base if seen[base] == 1 else f"{base}-{seen[base]}", 0
        else:
            ordinal += 1
        ids.append(section if ordinal == 0 else f"{section}/{ordinal}")
    return ids


@dataclass
class Edition:
    """One English source and what its Chinese edition is built from and written to."""

    kind: str  # "chapters" or "labs"
    source: Path

    @property
    def sidecar(self) -> Path:
        return SIDECARS / self.kind / f"{self.source.stem}.yml"

    def pairs(self) -> list[tuple[Path, Path]]:
        """(English notebook, Chinese notebook) pairs."""
        if self.kind == "chapters":
            english = [notebooks.chapter_target(self.source)]
        else:
            english = list(notebooks.lab_targets(self.source))
        return [(path, ZH / path.relative_to(ROOT)) for path in english]


def editions(names: list[str] | None = None) -> list[Edition]:
    return [Edition(kind, s) for kind in ("chapters", "labs") for s in notebooks.sources(kind, names or [])]


def load_sidecar(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(entries, dict):
        raise ValueError(f"{path}: expected a mapping of cell id -> {{en_hash, zh}}")
    return entries


def dump_sidecar(entries: dict[str, dict[str, str]]) -> str:
    """YAML with each translation as a literal block, so diffs read like the text itself."""
    lines = [
        "# Chinese translations of this source's markdown cells: cell id -> en_hash + zh.",
        "# See CONTRIBUTING.md (Chinese edition). Check: python tools/zh.py check",
    ]
    for key, entry in entries.items():
        zh = entry.get("zh", "")
        block = "  zh: |-\n" + "".join(f"    {line}\n" if line else "\n" for line in zh.split("\n"))
        if not zh or not literal_block_carries(block, zh):
            block = f"  zh: {json.dumps(zh, ensure_ascii=False)}\n"
        lines.append(f"{json.dumps(key)}:\n  en_hash: {json.dumps(entry['en_hash'])}\n{block.rstrip()}")
    return "\n".join(lines) + "\n"


def literal_block_carries(block: str, text: str) -> bool:
    """Whether a ``|-`` block reads back as ``text`` (not with leading spaces or trailing blanks)."""
    try:
        return yaml.safe_load(block) == {"zh": text}
    except yaml.YAMLError:
        return False


def translation_problems(edition: Edition, raw: nbformat.NotebookNode, entries: dict) -> list[str]:
    """Cells without a translation, with a stale one, or translations of cells that are gone."""
    where = edition.sidecar.relative_to(ROOT)
    problems, ids = [], cell_ids(raw.cells)
    for cell, key in zip(raw.cells, ids):
        if key is None:
            continue
        entry = entries.get(key)
        if not entry or not str(entry.get("zh", "")).strip():
            problems.append(f"{where}: cell {key!r} has no translation")
        elif entry.get("en_hash") != en_hash(cell.source):
            problems.append(
                f"{where}: the translation of {key!r} is stale (English changed; its en_hash is now "
                f"{en_hash(cell.source)}: `python tools/zh.py status {edition.source.stem}`)"
            )
        else:
            missing = [p for p in PLACEHOLDERS if p in cell.source and p not in entry["zh"]]
            if missing:
                problems.append(f"{where}: the translation of {key!r} lacks {', '.join(missing)}")
    for key in entries:
        if key not in ids:
            problems.append(f"{where}: {key!r} translates no cell of {edition.source.relative_to(ROOT)}")
    return problems


def english_problems(english: nbformat.NotebookNode, raw: nbformat.NotebookNode, path: Path) -> list[str]:
    """The committed English notebook must be the source's (rebuilt): the zh notebook's code is the source's."""
    expected = notebooks.fill_links(copy.deepcopy(raw), path)
    if path.parent.name == "labs":  # the learner's template
        expected = notebooks.make_template(expected)
    if [c.cell_type for c in english.cells] != [c.cell_type for c in expected.cells] or any(
        a.source != b.source for a, b in zip(english.cells, expected.cells) if a.cell_type == "code"
    ):
        return [f"{path.relative_to(ROOT)} differs from its source: rebuild the English notebook first"]
    return []


def language_cell() -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(LANGUAGE_CELL)
    cell.id = LANGUAGE_CELL_ID
    return cell


def translate(
    english: nbformat.NotebookNode, raw: nbformat.NotebookNode, entries: dict, target: Path
) -> nbformat.NotebookNode:
    """The Chinese notebook, not executed: ``english`` (the source's cells, as built for the English
    notebook) with each markdown cell translated and the language set."""
    chinese = copy.deepcopy(english)
    for cell, key in zip(chinese.cells, cell_ids(raw.cells)):
        if key is not None:
            cell.source = entries[key]["zh"]
    install = next(  # the Colab install cell: mmlab is importable only after it
        (i for i, c in enumerate(raw.cells) if c.cell_type == "code" and notebooks.REPOSITORY in c.source),
        None,
    )
    chinese.cells.insert(0 if install is None else install + 1, language_cell())
    label(chinese, target)
    return notebooks.fill_links(chinese, target)


def label(notebook: nbformat.NotebookNode, target: Path) -> None:
    """The metadata of a Chinese notebook (after execution too, which resets it)."""
    notebook.metadata = {
        "kernelspec": notebooks.KERNEL,
        "language_info": {"name": "python"},
        "mmlab": {"language": "zh", "english": english_path_of(target)},
    }


def english_path_of(target: Path) -> str:
    return target.relative_to(ZH).as_posix()


def expected_notebooks(edition: Edition) -> tuple[list[tuple[Path, nbformat.NotebookNode]], list[str]]:
    """(path, Chinese notebook before execution) for ``edition``, or the problems that prevent it."""
    raw = notebooks.read_source(edition.source)
    entries = load_sidecar(edition.sidecar)
    problems = translation_problems(edition, raw, entries)
    built = []
    for english_path, target in edition.pairs():
        if not english_path.exists():
            problems.append(f"{english_path.relative_to(ROOT)} is missing: build the English notebook first")
            continue
        english = nbformat.read(english_path, as_version=4)
        problems += english_problems(english, raw, english_path)
        if not problems:
            cells = notebooks.fill_links(copy.deepcopy(raw), english_path)
            if english_path.parent.name == "labs":
                cells = notebooks.make_template(cells)
            built.append((target, translate(cells, raw, entries, target)))
    return built, problems


def render(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def is_chapter(target: Path) -> bool:
    return target.parent == ZH / "chapters"


def with_outputs_of(
    expected: nbformat.NotebookNode, committed: nbformat.NotebookNode
) -> nbformat.NotebookNode | None:
    """``expected`` with the outputs of the executed ``committed`` notebook, when only markdown or the
    link placeholders differ (a translation changed: nothing to run); ``None`` when code changed."""
    if [(c.id, c.cell_type) for c in committed.cells] != [(c.id, c.cell_type) for c in expected.cells]:
        return None
    refreshed = copy.deepcopy(committed)
    for cell, new in zip(refreshed.cells, expected.cells):
        unchanged = INSTALL_ADDRESS.sub("", cell.source) == INSTALL_ADDRESS.sub("", new.source)
        if cell.cell_type == "code" and not unchanged:
            return None
        cell.source = new.source
    refreshed.metadata = expected.metadata
    return refreshed


def build(names: list[str] | None = None, execute: bool = True) -> list[str]:
    """Write the Chinese notebooks of every translated source in ``names``; return the problems.

    Chapters are executed (cwd ``zh/chapters``), so their outputs are what a learner running them in
    Chinese sees; lab solutions are executed (cwd ``zh/labs/solutions``) and written, like the
    templates, without outputs. With ``execute=False`` only translations and links are refreshed: a
    chapter keeps its outputs when its code cells are unchanged, else it is reported.
    """
    problems = []
    for edition in editions(names):
        if not edition.sidecar.exists():
            continue
        built, found = expected_notebooks(edition)
        problems += found
        for target, notebook in built:
            where = target.relative_to(ROOT)
            if not execute:
                if is_chapter(target):
                    committed = nbformat.read(target, as_version=4) if target.exists() else None
                    notebook = committed and with_outputs_of(notebook, committed)
                    if notebook is None:
                        problems.append(
                            f"{where}: its code changed, run `python tools/zh.py build {target.stem}`"
                        )
                        continue
                notebooks.write(notebook, target)
                print(f"{where}: translations refreshed from {edition.sidecar.relative_to(ROOT)}")
                continue
            if is_chapter(target) or target.parent.name == "solutions":
                executed = copy.deepcopy(notebook)
                seconds = notebooks.execute(executed, target.parent)
                if is_chapter(target):
                    label(executed, target)
                    notebook = executed
                print(f"{where}: executed in {seconds:.1f} s")
            notebooks.write(notebook, target)
            print(f"{where}: built from {edition.sidecar.relative_to(ROOT)}")
    return problems


def notebook_problems(target: Path, expected: nbformat.NotebookNode) -> list[str]:
    """A committed zh notebook that is not ``expected``: labs to the byte, chapters cell by cell and executed."""
    where = target.relative_to(ROOT)
    if not target.exists():
        return [f"{where} is missing: run `python tools/zh.py build {target.stem}`"]
    if not is_chapter(target):
        if target.read_text(encoding="utf-8") != render(expected):
            return [
                f"{where} disagrees with its sidecar and English notebook: run `python tools/zh.py build`"
            ]
        return []
    committed = nbformat.read(target, as_version=4)
    problems = []
    code = [(c.id, c.source) for c in committed.cells if c.cell_type == "code"]
    if code != [(c.id, c.source) for c in expected.cells if c.cell_type == "code"]:
        problems.append(
            f"{where}: its code cells differ from its English notebook's: run `python tools/zh.py build {target.stem}`"
        )
    elif notebooks.cell_pairs(committed) != notebooks.cell_pairs(expected):
        problems.append(
            f"{where} disagrees with its sidecar (translations changed): run `python tools/zh.py text {target.stem}`"
        )
    unexecuted = [
        i for i, c in enumerate(committed.cells) if c.cell_type == "code" and c.execution_count is None
    ]
    if unexecuted:
        problems.append(
            f"{where}: code cells {unexecuted} were never executed: run `python tools/zh.py build`"
        )
    return problems


def coverage() -> dict[str, tuple[list[str], list[str]]]:
    """Per kind, the names of the sources with a sidecar and those without (still English only)."""
    return {
        kind: (
            [e.source.stem for e in editions() if e.kind == kind and e.sidecar.exists()],
            [e.source.stem for e in editions() if e.kind == kind and not e.sidecar.exists()],
        )
        for kind in ("chapters", "labs")
    }


def check() -> list[str]:
    """Problems with the Chinese edition; prints its coverage (untranslated sources are no problem)."""
    problems = []
    for edition in editions():
        if not edition.sidecar.exists():
            continue
        built, found = expected_notebooks(edition)
        problems += found
        for target, notebook in built:
            problems += notebook_problems(target, notebook)
    known = {zh for edition in editions() for _, zh in edition.pairs()}
    sidecars = {edition.sidecar for edition in editions()}
    problems += [
        f"{orphan.relative_to(ROOT)} has no English notebook"
        for orphan in ZH.rglob("*.ipynb")
        if orphan not in known
    ]
    problems += [
        f"{orphan.relative_to(ROOT)} has no English source"
        for orphan in SIDECARS.rglob("*.yml")
        if orphan not in sidecars
    ]
    for kind, (done, todo) in coverage().items():
        print(f"中文版 {kind}: {len(done)}/{len(done) + len(todo)} translated ({', '.join(done) or 'none'})")
        if todo:
            print(f"  not translated yet: {', '.join(todo)}")
    return problems


def demo_chapters() -> list[str]:
    """The chapters that show a demo: Run All in JupyterLab executes them (tests/test_runall_browser.py)."""
    return [
        source.stem
        for source in notebooks.sources("chapters", [])
        if SHOWS_A_DEMO.search(source.read_text(encoding="utf-8"))
    ]


def nbval_paths() -> list[str]:
    """The zh notebooks ``make nbval`` executes: every zh chapter Run All does not, and the zh labs."""
    demos = set(demo_chapters())
    chapters = sorted(p for p in (ZH / "chapters").glob("*.ipynb") if p.stem not in demos)
    labs = [ZH / "labs"] if (ZH / "labs").exists() else []
    return [p.relative_to(ROOT).as_posix() for p in [*chapters, *labs]]


def status(name: str) -> None:
    """Print, for a translator, every cell of ``name`` whose translation is missing or stale."""
    for edition in editions([name]):
        raw = notebooks.read_source(edition.source)
        entries = load_sidecar(edition.sidecar)
        for cell, key in zip(raw.cells, cell_ids(raw.cells)):
            if key is None:
                continue
            entry = entries.get(key) or {}
            if entry.get("zh") and entry.get("en_hash") == en_hash(cell.source):
                continue
            state = "stale" if entry.get("zh") else "missing"
            print(f"--- {edition.sidecar.relative_to(ROOT)} {key} ({state}; en_hash {en_hash(cell.source)})")
            print(cell.source)


def stub(name: str) -> None:
    """Add an empty entry (current en_hash) for every untranslated cell of ``name``'s sources."""
    for edition in editions([name]):
        raw = notebooks.read_source(edition.source)
        entries = load_sidecar(edition.sidecar)
        for cell, key in zip(raw.cells, cell_ids(raw.cells)):
            if key is not None and key not in entries:
                entries[key] = {"en_hash": en_hash(cell.source), "zh": ""}
        ordered = {k: entries[k] for k in cell_ids(raw.cells) if k in entries}
        ordered.update({k: v for k, v in entries.items() if k not in ordered})
        edition.sidecar.parent.mkdir(parents=True, exist_ok=True)
        edition.sidecar.write_text(dump_sidecar(ordered), encoding="utf-8")
        print(f"{edition.sidecar.relative_to(ROOT)}: {len(ordered)} entries")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["build", "text", "check", "nbval", "status", "stub"])
    parser.add_argument("names", nargs="*", help="notebook names or numbers (default: all)")
    args = parser.parse_args(argv)
    if args.command in ("status", "stub"):
        for name in args.names:
            (status if args.command == "status" else stub)(name)
        return 0
    if args.command == "nbval":
        print(" ".join(nbval_paths()))
        return 0
    if args.command == "check":
        problems = check()
    else:
        problems = build(args.names, execute=args.command == "build")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
