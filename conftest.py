"""Settings for every pytest run in the repository (the unit tests and nbval over the notebooks).

nbval waits a fixed 5 s for each of a cell's remaining output messages once the cell has finished,
and stops the kernel when one is late. A training cell streams hundreds of progress-bar updates, and
on a loaded CI machine (two notebooks at once on two cores) the kernel can take longer than that to
send the last of them, which failed chapter 10 in a CI-like run. Give it a minute instead; a cell
that really hangs is still caught by ``--nbval-cell-timeout``.
"""

from __future__ import annotations

import importlib.util

OUTPUT_TIMEOUT_S = 60

if importlib.util.find_spec("nbval") is not None:  # a test extra: without it there are no notebook tests
    from nbval.plugin import IPyNbCell  # fails loudly if nbval renames its cell class

    _nbval_cell_init = IPyNbCell.__init__

    def _patient_cell_init(self, *args, **kwargs) -> None:
        _nbval_cell_init(self, *args, **kwargs)
        self.output_timeout = OUTPUT_TIMEOUT_S

    IPyNbCell.__init__ = _patient_cell_init
