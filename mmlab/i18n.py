"""The learner's language: English (default) or Simplified Chinese (issue 21, the 中文版).

The Chinese notebooks (``zh/chapters``, ``zh/labs``) call ``mmlab.set_language("zh")`` in the cell
after their install cell; lab checks and demos read ``get_language()`` to pick their messages.
"""

LANGUAGES = ("en", "zh")
_language = "en"


def set_language(language: str) -> None:
    """Choose the language of check messages and demo labels: ``"en"`` or ``"zh"``."""
    global _language
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")
    _language = language


def get_language() -> str:
    """The language chosen with :func:`set_language` (``"en"`` until then)."""
    return _language


def en_zh(english: str, chinese: str) -> str:
    """One sentence written in both languages side by side: the one the learner chose."""
    return chinese if _language == "zh" else english
