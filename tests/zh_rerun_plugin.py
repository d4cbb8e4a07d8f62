"""A pytest plugin for ``tests/test_checks_zh.py``: every lab check that fails in English is run
again in Chinese on the same answer, and both messages are written to ``$ZH_RERUN_RECORD`` (JSON).

Loaded with ``-p zh_rerun_plugin`` before the check modules are imported, it wraps
:func:`mmlab.checks.framework.lab_check`, so the existing lab-check tests (each known wrong answer)
become the Chinese edition's test cases without a second copy of them.
"""

import functools
import json
import os

import mmlab.checks.framework as framework
from mmlab.i18n import get_language, set_language

RECORD: list[dict[str, str]] = []
_lab_check = framework.lab_check


def _rerun_in_chinese(name):
    decorate = _lab_check(name)

    def wrap(check):
        run = decorate(check)

        @functools.wraps(run)
        def both(student_fn, *args, **kwargs):
            try:
                return run(student_fn, *args, **kwargs)
            except framework.CheckFailed as err:
                if get_language() == "en":
                    set_language("zh")
                    try:
                        run(student_fn, *args, **kwargs)
                        chinese = "(passed in Chinese)"
                    except framework.CheckFailed as zh_err:
                        chinese = str(zh_err)
                    finally:
                        set_language("en")
                    RECORD.append({"en": str(err), "zh": chinese})
                raise

        return both

    return wrap


framework.lab_check = _rerun_in_chinese


def pytest_sessionfinish(session):
    with open(os.environ["ZH_RERUN_RECORD"], "w", encoding="utf-8") as f:
        json.dump(RECORD, f, ensure_ascii=False)
