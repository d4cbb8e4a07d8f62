"""The Chinese edition (issue 21): sidecar translations, the zh/ notebooks built from them, the glossary."""

import re
import sys
from collections import Counter
from pathlib import Path

import nbformat
import pytest
import yaml

import mmlab
from mmlab.i18n import get_language, set_language

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402

import zh  # noqa: E402

GLOSSARY = ROOT / "docs" / "glossary.md"
SOURCE_TEXT = """# %% [markdown]
# # 99 · Demo
# {{colab_badge}}
#
# What you will build.

# %%
import sys

IN_COLAB = "google.colab" in sys.modules  # {{repository}}

# %% [markdown]
# ## 1. First section

# %%
import mmlab

print(mmlab.get_language())

# %% [markdown]
# More about the first section.

# %% [markdown]
# ## 2. Second section
"""
TRANSLATIONS = {
    "99-demo": "# 99 · 演示\n{{colab_badge}}\n\n要做的事。",
    "1-first-section": "## 1. 第一节",
    "1-first-section/1": "关于第一节的更多内容。",
    "2-second-section": "## 2. 第二节",
}


# ---- mmlab.i18n ---------------------------------------------------------------------------------


def test_set_language_switches_and_rejects_unknown_languages():
    assert mmlab.set_language is set_language and get_language() == "en"
    try:
        set_language("zh")
        assert mmlab.get_language() == "zh"
        with pytest.raises(ValueError, match="one of"):
            set_language("fr")
        assert get_language() == "zh"
    finally:
        set_language("en")


# ---- stable cell ids ----------------------------------------------------------------------------


def markdown(*texts: str) -> list[nbformat.NotebookNode]:
    return [
        nbformat.v4.new_markdown_cell(t) if t is not None else nbformat.v4.new_code_cell("x") for t in texts
    ]


def test_cell_ids_come_from_headings_and_survive_edits_elsewhere():
    cells = markdown("# Title", "intro", None, "## 1. Softmax, and why", "text", "more")
    assert zh.cell_ids(cells) == [
        "title",
        "title/1",
        None,
        "1-softmax-and-why",
        "1-softmax-and-why/1",
        "1-softmax-and-why/2",
    ]
    # a new code cell, a new section, and a new paragraph in another section rename nothing here
    edited = markdown(
        "# Title", "intro", "another intro", None, None, "## New", "## 1. Softmax, and why", "text", "more"
    )
    ids = zh.cell_ids(edited)
    assert ids[-3:] == ["1-softmax-and-why", "1-softmax-and-why/1", "1-softmax-and-why/2"]


def test_cell_ids_ignore_comments_in_fenced_code_and_number_repeated_headings():
    cells = markdown("```python\n# not a heading\n```", "## Exercise", "## Exercise")
    assert zh.cell_ids(cells) == ["top", "exercise", "exercise-2"]


@pytest.mark.parametrize(
    "text",
    ["plain", "  leading spaces\nline", "trailing  \n\nblank lines\n", 'quotes " and: colons # hash', ""],
)
def test_sidecars_round_trip_any_text(text):
    entries = {"a/1": {"en_hash": "0123456789abcdef", "zh": text}}
    assert yaml.safe_load(zh.dump_sidecar(entries)) == entries


# ---- building and checking, on a synthetic course ------------------------------------------------


REAL_EXECUTE = notebooks.execute


def fake_execute(notebook: nbformat.NotebookNode, cwd: Path) -> float:
    """Stands in for a kernel (unit tests stay fast): numbers each code cell, prints where it ran."""
    for count, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
        cell.execution_count = count + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"ran in {cwd.name}\n")]
    return 0.0


@pytest.fixture
def course(tmp_path, monkeypatch, capsys):
    """A one-chapter course in tmp_path: source, executed English notebook and a complete sidecar."""
    (tmp_path / "source" / "chapters").mkdir(parents=True)
    (tmp_path / "source" / "labs").mkdir()
    source = tmp_path / "source" / "chapters" / "99_demo.py"
    source.write_text(SOURCE_TEXT)
    for module, name, value in [
        (notebooks, "ROOT", tmp_path),
        (notebooks, "SOURCE", tmp_path / "source"),
        (zh, "ROOT", tmp_path),
        (zh, "ZH", tmp_path / "zh"),
        (zh, "SIDECARS", tmp_path / "source" / "zh"),
        (notebooks, "execute", fake_execute),
    ]:
        monkeypatch.setattr(module, name, value)
    english = notebooks.fill_links(notebooks.read_source(source), notebooks.chapter_target(source))
    for count, cell in enumerate(c for c in english.cells if c.cell_type == "code"):
        cell.execution_count = count + 1  # as if executed
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"out {count}\n")]
    notebooks.write(english, notebooks.chapter_target(source))
    raw = notebooks.read_source(source)
    entries = {
        key: {"en_hash": zh.en_hash(cell.source), "zh": TRANSLATIONS[key]}
        for cell, key in zip(raw.cells, zh.cell_ids(raw.cells))
        if key is not None
    }
    sidecar = tmp_path / "source" / "zh" / "chapters" / "99_demo.yml"
    sidecar.parent.mkdir(parents=True)
    sidecar.write_text(zh.dump_sidecar(entries))
    assert zh.build() == []
    capsys.readouterr()
    return tmp_path


def test_built_notebook_has_the_english_code_and_the_chinese_text_and_is_executed_there(course):
    english = nbformat.read(course / "chapters" / "99_demo.ipynb", as_version=4)
    chinese = nbformat.read(course / "zh" / "chapters" / "99_demo.ipynb", as_version=4)
    assert [c.id for c in chinese.cells].index(zh.LANGUAGE_CELL_ID) == 2  # right after the install cell
    assert chinese.cells[2].source == zh.LANGUAGE_CELL and chinese.cells[2].execution_count is not None
    rest = [c for c in chinese.cells if c.id != zh.LANGUAGE_CELL_ID]
    for en, cn in zip(english.cells, rest, strict=True):
        if en.cell_type == "code":
            assert (cn.id, cn.source) == (en.id, en.source)
            assert cn.outputs[0].text == "ran in chapters\n" and cn.execution_count is not None
        else:
            assert re.search("[\u4e00-\u9fff]", cn.source) and cn.source != en.source
    assert chinese.metadata["mmlab"] == {"language": "zh", "english": "chapters/99_demo.ipynb"}
    badge = notebooks.colab_url("zh/chapters/99_demo.ipynb")
    assert badge in chinese.cells[0].source and "{{colab_badge}}" not in chinese.cells[0].source


def test_build_runs_the_chinese_chapter_in_a_kernel_that_speaks_chinese(course, monkeypatch):
    monkeypatch.setattr(notebooks, "execute", REAL_EXECUTE)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # restored after the test (execute sets the inline backend)
    assert zh.build() == []
    chinese = nbformat.read(course / "zh" / "chapters" / "99_demo.ipynb", as_version=4)
    printed = [c for c in chinese.cells if c.cell_type == "code" and "get_language" in c.source]
    assert printed[0].outputs[0].text == "zh\n"  # the English notebook of this code would print "en"
    assert zh.check() == []


LAB_TEXT = """# %% [markdown]
# # 98 · Lab
# {{colab_badge}}

# %%
import sys

IN_COLAB = "google.colab" in sys.modules  # {{repository}}

# %%
def answer():
    # BEGIN SOLUTION
    return 42
    # END SOLUTION
"""


def test_a_lab_is_written_without_outputs_once_its_solution_ran(course, monkeypatch):
    source = course / "source" / "labs" / "98_lab.py"
    source.write_text(LAB_TEXT)
    for path, notebook in notebooks.lab_notebooks(source):
        notebooks.write(notebook, path)
    raw = notebooks.read_source(source)
    (course / "source" / "zh" / "labs").mkdir(parents=True)
    (course / "source" / "zh" / "labs" / "98_lab.yml").write_text(
        zh.dump_sidecar(
            {"98-lab": {"en_hash": zh.en_hash(raw.cells[0].source), "zh": "# 98 · 实验\n{{colab_badge}}"}}
        )
    )

    def broken(notebook, cwd):
        raise RuntimeError("a cell of the solution failed")

    monkeypatch.setattr(notebooks, "execute", broken)
    with pytest.raises(RuntimeError, match="solution failed"):
        zh.build(["98_lab"])
    assert not (course / "zh" / "labs" / "98_lab.ipynb").exists()  # a broken lab is never written

    ran = []
    monkeypatch.setattr(notebooks, "execute", lambda notebook, cwd: ran.append(cwd) or 0.0)
    assert zh.build(["98_lab"]) == []
    assert ran == [course / "zh" / "labs" / "solutions"]  # the solution ran, in its own folder
    template = nbformat.read(course / "zh" / "labs" / "98_lab.ipynb", as_version=4)
    solution = nbformat.read(course / "zh" / "labs" / "solutions" / "98_lab.ipynb", as_version=4)
    assert "raise NotImplementedError" in template.cells[-1].source and "42" in solution.cells[-1].source
    assert all(not c.get("outputs") for c in [*template.cells, *solution.cells] if c.cell_type == "code")
    assert zh.check() == []


def test_check_passes_then_catches_stale_missing_and_hand_edited(course, capsys):
    assert zh.check() == []
    assert "中文版 chapters: 1/1 translated (99_demo)" in capsys.readouterr().out

    source = course / "source" / "chapters" / "99_demo.py"
    source.write_text(SOURCE_TEXT.replace("More about the first section.", "Much more about it."))
    notebooks.write(
        notebooks.fill_links(notebooks.read_source(source), course / "chapters" / "99_demo.ipynb"),
        course / "chapters" / "99_demo.ipynb",
    )
    assert any("'1-first-section/1' is stale" in p for p in zh.check())

    source.write_text(SOURCE_TEXT + "\n# %% [markdown]\n# ## 3. A new section\n")
    assert any("'3-a-new-section' has no translation" in p for p in zh.check())
    assert any("rebuild the English notebook first" in p for p in zh.check())

    source.write_text(SOURCE_TEXT)
    target = course / "zh" / "chapters" / "99_demo.ipynb"
    built = target.read_text()
    target.write_text(built.replace("第一节", "第 1 节"))
    assert any("disagrees with its sidecar" in p for p in zh.check())

    target.write_text(built.replace("get_language()", "get_language() + 'x'"))
    assert any("code cells differ from its English notebook's" in p for p in zh.check())

    notebook = nbformat.reads(built, as_version=4)
    notebook.cells[2].execution_count = None  # the language cell, copied but never run
    notebooks.write(notebook, target)
    assert any("code cells [2] were never executed" in p for p in zh.check())


def test_text_refreshes_a_translation_and_keeps_the_outputs_but_not_after_a_code_change(course):
    sidecar = course / "source" / "zh" / "chapters" / "99_demo.yml"
    sidecar.write_text(sidecar.read_text().replace("第二节", "第 2 节"))
    target = course / "zh" / "chapters" / "99_demo.ipynb"
    before = nbformat.read(target, as_version=4)
    for cell in before.cells:
        if cell.cell_type == "code":
            cell.outputs[0].text = "kept\n"
    notebooks.write(before, target)
    assert zh.main(["text"]) == 0
    after = nbformat.read(target, as_version=4)
    assert "## 2. 第 2 节" in [c.source for c in after.cells]
    assert all(c.outputs[0].text == "kept\n" for c in after.cells if c.cell_type == "code")

    code = [c for c in after.cells if c.cell_type == "code" and "get_language" in c.source][0]
    code.source += "\nprint(2)"  # as if the source's code had changed since the notebook ran
    notebooks.write(after, target)
    assert any("its code changed" in p for p in zh.build(execute=False))


def test_a_translation_must_keep_the_badge_placeholder(course):
    sidecar = course / "source" / "zh" / "chapters" / "99_demo.yml"
    sidecar.write_text(sidecar.read_text().replace("{{colab_badge}}", "徽章"))
    assert any("lacks {{colab_badge}}" in p for p in zh.check())


def test_sources_without_a_sidecar_are_listed_not_failed(course, capsys):
    (course / "source" / "zh" / "chapters" / "99_demo.yml").unlink()
    (course / "zh" / "chapters" / "99_demo.ipynb").unlink()
    assert zh.check() == []
    assert "not translated yet: 99_demo" in capsys.readouterr().out


# ---- the committed Chinese edition --------------------------------------------------------------


def translated_cells() -> list[tuple[str, str, str]]:
    """(cell id, English text, Chinese text) of every translated markdown cell in the repository."""
    cells = []
    for edition in zh.editions():
        if edition.sidecar.exists():
            entries = zh.load_sidecar(edition.sidecar)
            raw = notebooks.read_source(edition.source)
            for cell, key in zip(raw.cells, zh.cell_ids(raw.cells)):
                if key in entries:
                    cells.append((f"{edition.sidecar.name}:{key}", cell.source, entries[key]["zh"]))
    return cells


def test_committed_chinese_notebooks_agree_with_sidecars_and_english_notebooks():
    assert zh.check() == []
    assert any(translated for translated, _ in zh.coverage().values())


def test_chinese_notebooks_have_the_english_code_cells_and_chapters_are_executed():
    for edition in zh.editions():
        for english_path, chinese_path in edition.pairs():
            if not chinese_path.exists():
                continue
            english = nbformat.read(english_path, as_version=4)
            chinese = nbformat.read(chinese_path, as_version=4)
            code = [c for c in chinese.cells if c.cell_type == "code" and c.id != zh.LANGUAGE_CELL_ID]
            assert [c.source for c in code] == [c.source for c in english.cells if c.cell_type == "code"]
            if edition.kind == "chapters":  # executed in Chinese, not copied from the English run
                assert all(c.execution_count is not None for c in chinese.cells if c.cell_type == "code")
                assert chinese.cells[[c.id for c in chinese.cells].index(zh.LANGUAGE_CELL_ID)].execution_count


def test_every_chinese_notebook_is_executed_by_exactly_one_ci_phase():
    """nbval runs the zh chapters without a demo and the zh labs; Run All (``make runall``) the others."""
    nbval = zh.nbval_paths()
    demos = set(zh.demo_chapters())
    for path in sorted((ROOT / "zh").rglob("*.ipynb")):
        relative = path.relative_to(ROOT).as_posix()
        by_nbval = relative in nbval or any(relative.startswith(f"{p}/") for p in nbval)
        by_runall = path.parent.name == "chapters" and path.stem in demos
        assert by_nbval != by_runall, relative
    assert "$(ZH_NBVAL)" in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_the_language_cell_sets_chinese():
    try:
        exec(zh.LANGUAGE_CELL, {})
        assert get_language() == "zh"
    finally:
        set_language("en")


def glossary() -> list[tuple[list[str], list[str]]]:
    """(English forms, accepted Chinese forms) of each glossary row."""
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("English", "---"):
            rows.append(
                ([f.strip() for f in cells[0].split(",")], [f.strip() for f in cells[1].split(" / ")])
            )
    return rows


def prose(text: str) -> str:
    """``text`` without code, formulas and link targets: the words a glossary term can appear in."""
    text = re.sub(r"```.*?```|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|\]\([^)]*\)", " ", text, flags=re.S)
    return text


def test_glossary_lists_the_issue_terms():
    chinese = {form for _, forms in glossary() for form in forms}
    for term in "交叉熵 随机梯度下降 词袋模型 词向量 循环神经网络 长短期记忆网络 卷积神经网络 自注意力 多头注意力 位置编码 掩码 编码器 解码器 预训练 微调 掩码语言模型 下一句预测 准确率 召回率 F1 指令微调 奖励模型 人类反馈强化学习 近端策略优化 直接偏好优化 早期融合 晚期融合 混合融合 加权求和 拼接 对比学习 零样本 检索 推荐系统".split():
        assert term in chinese, term


def test_translations_use_the_glossary_terms():
    rows = [
        (
            re.compile(
                r"\b("
                + "|".join(re.escape(f).replace(r"\-", "[- ]").replace(r"\ ", "[- ]") for f in english)
                + r")(s|es)?\b",
                re.I,
            ),
            chinese,
        )
        for english, chinese in glossary()
    ]
    missing = []
    for key, english, chinese in translated_cells():
        for pattern, forms in rows:
            found = pattern.search(prose(english))
            if found and not any(f.lower() in prose(chinese).lower() for f in forms):
                missing.append(f"{key}: '{found.group(0)}' should be {forms[0]}")
    assert not missing, "\n".join(missing)


def test_translations_keep_formulas_code_and_numbers():
    display, fence = re.compile(r"\$\$.*?\$\$", re.S), re.compile(r"```.*?```", re.S)
    code, numbers = re.compile(r"`[^`]+`"), re.compile(r"\d+(?:\.\d+)?")
    for key, english, chinese in translated_cells():
        for block in (display, fence):
            assert Counter(block.findall(english)) == Counter(block.findall(chinese)), key
        english_spans, chinese_spans = (set(code.findall(fence.sub(" ", t))) for t in (english, chinese))
        assert english_spans <= chinese_spans, (key, english_spans - chinese_spans)
        assert set(numbers.findall(english)) <= set(numbers.findall(chinese)), (key, english, chinese)


def test_readme_zh_links_every_translated_notebook_and_marks_the_rest_english():
    readme = (ROOT / "README.zh.md").read_text(encoding="utf-8")
    assert "[中文](README.zh.md)" in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[0]
    links = set(re.findall(r"\]\(([^)]+\.ipynb)\)", readme))
    for edition in zh.editions():
        english, chinese = edition.pairs()[-1]  # a chapter, or a lab's learner notebook
        translated = edition.sidecar.exists()
        assert (chinese.relative_to(ROOT).as_posix() in links) == translated, chinese
        if (
            edition.kind == "chapters" and edition.source.stem <= "13"
        ):  # later chapters join the table with zh
            assert translated or english.relative_to(ROOT).as_posix() in links, english


def test_notebooks_check_command_runs_the_chinese_check(course):
    assert notebooks.main(["check"]) == 0
    sidecar = course / "source" / "zh" / "chapters" / "99_demo.yml"
    sidecar.write_text(sidecar.read_text().replace("第二节", "第 2 节"))  # the zh notebook is now out of date
    assert notebooks.main(["check"]) == 1
    assert notebooks.main(["links"]) == 0  # refreshes its text, without running anything
    assert notebooks.main(["check"]) == 0
    (course / "zh" / "chapters" / "99_demo.ipynb").unlink()
    assert notebooks.main(["zh"]) == 0  # builds (executes) it
    assert notebooks.main(["check"]) == 0
