"""Messages in the learner's language (issue 21): English in the code, Chinese in a catalog.

Lab checks (:mod:`mmlab.checks.lab01` ...) and demos (:mod:`mmlab.demos.chat` ...) write their
messages and labels in English. Each module's Chinese lives next to it in a ``zh`` package
(``mmlab/checks/zh/labNN.py``, ``mmlab/demos/zh/chat.py``): a dict ``ZH`` keyed by the English text
exactly as the source spells it, an f-string's fields written as in the source
(``"parameter {name} after the step": "更新一步之后的参数 {name}"``); a field may move inside the
Chinese sentence but keeps its name.

When :func:`mmlab.get_language` is ``"zh"``, :func:`to_chinese` turns an English message (already
formatted) into Chinese: an exact entry first, otherwise the entry whose English template matches
the whole message, with each field's value translated in turn (so a named mistake inside a longer
sentence is translated too). A message with no entry stays in English.

:func:`source_messages` lists every message a module can produce: each string literal and f-string
with a space in it, or passed as ``what=`` / ``case=`` / ``label=`` / ``placeholder=`` / ``info=`` /
``title=`` or as the text of a ``gr.Button`` / ``gr.Markdown`` (docstrings, the ``hints`` keys
matched against PyTorch's own errors and the left side of ``in`` excepted). Texts that are data for
the learner's function or the model, never shown as a message, are listed in the zh module's
``NOT_MESSAGES``. ``tests/test_checks_zh.py`` and ``tests/test_demos_zh.py`` fail, naming file, line
and text, for a message without its Chinese; ``python -m mmlab.messages checks lab16`` (or ``demos
chat``) prints the missing entries as lines to paste into the catalog.
"""

from __future__ import annotations

import ast
import functools
import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from mmlab.i18n import get_language

__all__ = ["Message", "catalog", "localize", "missing", "source_messages", "spaced", "to_chinese"]

PACKAGES = {"checks": "lab*.py", "demos": "[!_]*.py"}  # the packages with messages, and their modules
SHOWN_KEYWORDS = ("what", "case", "label", "placeholder", "info", "title")
SHOWN_CALLS = ("Button", "Markdown")  # their first argument is shown
NAME_CALLS = ("check_text", "check_number")  # their second argument names the input in a message
BILINGUAL_CALLS = ("en_zh",)  # en_zh(english, chinese): both languages already in the source
LOG_CALLS = ("debug", "info", "warning", "error", "exception")  # _log.warning("..."): the server's log
CJK_THEN_LATIN = re.compile(
    r"(?<=[\u4e00-\u9fff])(?=[A-Za-z0-9(\[`])|(?<=[A-Za-z0-9)\]`])(?=[\u4e00-\u9fff])"
)
CONSTANT = re.compile(r"[A-Z][A-Z0-9_]{2,}")  # a field naming a module constant (B, T: sizes)
LABEL_FIELDS = ("what", "name", "case")  # fields whose one-word values are labels to translate
FIELD = re.compile(r"\{\{|\}\}|\{([^{}]+)\}")  # an escaped brace, or a field {expression}
DATA_KEYWORDS = ("hints",)  # keyword arguments whose dict keys are matched against errors, not shown


@dataclass(frozen=True)
class Message:
    """One English message template in a module's source."""

    package: str  # "checks" or "demos"
    module: str  # "lab01"
    line: int
    text: str  # as in the source: f-string fields as {expression}, literal braces doubled


def _template(node: ast.Constant | ast.JoinedStr) -> str:
    if isinstance(node, ast.Constant):
        return node.value.replace("{", "{{").replace("}", "}}")
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(value.value.replace("{", "{{").replace("}", "}}"))
        else:
            parts.append("{" + ast.unparse(value.value) + "}")
    return "".join(parts)


def source_messages(package: str, module: str) -> list[Message]:
    """Every message template in ``mmlab/<package>/<module>.py`` (see the module docstring)."""
    path = Path(__file__).parent / package / f"{module}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    shown: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))  # a docstring
        if isinstance(node, ast.JoinedStr):
            skip.update(id(inner) for inner in ast.walk(node) if inner is not node)
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            skip.add(id(node.left))  # `"leaf Variable" in str(err)`: PyTorch's text, not ours
        if isinstance(node, ast.keyword) and node.arg in DATA_KEYWORDS and isinstance(node.value, ast.Dict):
            skip.update(id(key) for key in node.value.keys)
        if isinstance(node, ast.keyword) and node.arg in SHOWN_KEYWORDS:
            shown.add(id(node.value))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in SHOWN_CALLS and node.args:
            shown.add(id(node.args[0]))
        called = getattr(node, "func", None)
        if isinstance(node, ast.Call) and getattr(called, "id", getattr(called, "attr", "")) in NAME_CALLS:
            shown.update(id(arg) for arg in node.args[1:2])
        if isinstance(node, ast.Call) and (
            getattr(node.func, "id", "") in BILINGUAL_CALLS or getattr(node.func, "attr", "") in LOG_CALLS
        ):
            skip.update(id(inner) for arg in node.args for inner in ast.walk(arg))
    found = []
    for node in ast.walk(tree):
        is_text = isinstance(node, ast.JoinedStr) or (
            isinstance(node, ast.Constant) and isinstance(node.value, str)
        )
        if is_text and id(node) not in skip:
            text = _template(node)
            words = re.search("[A-Za-z]", FIELD.sub("", text))  # not just fields and punctuation
            if words and (" " in text or id(node) in shown):
                found.append(Message(package, module, node.lineno, text))
    return sorted(found, key=lambda m: m.line)


def modules(package: str) -> list[str]:
    """The modules of ``mmlab/<package>`` that have messages (``lab01`` ..., ``chat`` ...)."""
    return sorted(path.stem for path in (Path(__file__).parent / package).glob(PACKAGES[package]))


def _zh_module(package: str, module: str) -> object | None:
    try:
        return importlib.import_module(f"mmlab.{package}.zh.{module}")
    except ModuleNotFoundError:
        return None  # a new module not translated yet: its messages stay English (the test says so)


@functools.cache
def catalog(package: str) -> dict[str, str]:
    """English template -> Chinese template, from every ``mmlab/<package>/zh/<module>.py``."""
    merged: dict[str, str] = {}
    for module in modules(package):
        merged.update(getattr(_zh_module(package, module), "ZH", {}))
    return merged


def missing(package: str, module: str) -> list[Message]:
    """The messages of ``module`` with no Chinese in the catalog (texts listed in the zh module's
    ``NOT_MESSAGES``, data for the learner's function or the model, excepted)."""
    known = catalog(package)
    data = getattr(_zh_module(package, module), "NOT_MESSAGES", set())
    return [m for m in source_messages(package, module) if m.text not in known and m.text not in data]


def _unescape(template: str) -> str:
    return template.replace("{{", "{").replace("}}", "}")


@functools.cache
def _index(package: str) -> tuple[dict[str, str], list[tuple[re.Pattern[str], str, list[str]]]]:
    """Exact entries by their English text, and a pattern for each entry that has fields."""
    exact: dict[str, str] = {}
    templates = []
    for english, chinese in catalog(package).items():
        if any(match.group(1) for match in FIELD.finditer(english)):
            templates.append((english, chinese))
        else:
            exact[_unescape(english)] = _unescape(chinese)
    # A constant's value may itself contain the text around the field ("... (ignored by the loss) ...
    # (100% of the tokens ...)"), so a constant's field tries the exact entries first, longest first.
    constant = "|".join(re.escape(text) for text in sorted(exact, key=len, reverse=True))
    patterns = []
    for english, chinese in templates:
        names: list[str] = []
        regex, last = [], 0
        for match in FIELD.finditer(english):
            regex.append(re.escape(english[last : match.start()]))
            if match.group(1) is None:
                regex.append(re.escape(match.group(0)[0]))
            else:
                value = f"(?:{constant}|.*?)" if CONSTANT.fullmatch(match.group(1)) else ".*?"
                regex.append(f"(?P<f{len(names)}>{value})")
                names.append(match.group(1))
            last = match.end()
        regex.append(re.escape(english[last:]))
        literal = len(FIELD.sub("", english))
        patterns.append((literal, re.compile("".join(regex), re.DOTALL), chinese, names))
    patterns.sort(key=lambda p: -p[0])  # the most specific template first
    return exact, [(pattern, chinese, names) for _, pattern, chinese, names in patterns]


def _field_value(name: str, value: str, package: str) -> str:
    """A field's value, translated when it is a phrase, a label (``what``, ``name``, ``case``) or a
    constant; a single word such as a word the learner typed stays as typed."""
    if " " in value or name in LABEL_FIELDS or CONSTANT.fullmatch(name):
        return to_chinese(value, package)
    return value


def to_chinese(text: str, package: str = "checks") -> str:
    """``text`` in Chinese when ``package``'s catalog has it (see the module docstring), else unchanged."""
    exact, patterns = _index(package)
    if text in exact:
        return exact[text]
    for pattern, chinese, names in patterns:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        values = {name: _field_value(name, match.group(f"f{i}"), package) for i, name in enumerate(names)}

        def fill(field: re.Match[str], values: dict[str, str] = values) -> str:
            return field.group(0)[0] if field.group(1) is None else values.get(field.group(1), field.group(0))

        return FIELD.sub(fill, chinese)
    return text


def spaced(text: str) -> str:
    """A space between Chinese characters and Latin letters or digits (as Chinese technical prose
    writes ``你的 softmax``), where a field's value was put next to the Chinese around it."""
    return CJK_THEN_LATIN.sub(" ", text)


def localize(text: str, package: str = "checks") -> str:
    """``text`` translated (and :func:`spaced`) when the learner chose Chinese, else unchanged."""
    return spaced(to_chinese(text, package)) if get_language() == "zh" else text


def _main(args: list[str]) -> int:
    """``checks|demos [module ...]``: print the missing entries (all modules when none is named),
    ready to paste into each ``zh`` module."""
    package, names = (args[0], args[1:]) if args else ("checks", [])
    gaps: set[str] = set()
    for module in names or modules(package):
        for message in missing(package, module):
            if message.text not in gaps:
                gaps.add(message.text)
                print(f"    {message.text!r}: '',  # mmlab/{package}/{module}.py:{message.line}")
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
