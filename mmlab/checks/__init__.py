"""Lab checks: ``mmlab.checks.labNN.check_xxx(your_fn)`` for each exercise.

See :mod:`mmlab.checks.framework` for how a check reports not-done, wrong and right answers.
"""

from mmlab.checks.framework import CheckFailed, CheckResult, lab_check

__all__ = ["CheckFailed", "CheckResult", "lab_check"]
