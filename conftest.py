"""Settings for every pytest run in the repository (the unit tests and nbval over the notebooks).

nbval waits a fixed 5 s for each of a cell's remaining output messages once the cell has finished.
A training cell streams hundreds of progress-bar updates, and on a loaded CI machine (two notebooks
at once on two cores) the kernel can take longer than that to send the last of them, which nbval
reports as a failure of the cell. Give it a minute instead; a cell that really hangs is still caught
by ``--nbval-cell-timeout``.
"""

from __future__ import annotations

try:
    from nbval.plugin import NotebookCell
except ImportError:  # nbval is a test extra: without it there are no notebook tests to configure
    NotebookCell = None

OUTPUT_TIMEOUT_S = 60

if NotebookCell is not None:
    _nbval_cell_init = NotebookCell.__init__

    def _patient_cell_init(self, *args, **kwargs) -> None:
        _nbval_cell_init(self, *args, **kwargs)
        self.output_timeout = OUTPUT_TIMEOUT_S

    NotebookCell.__init__ = _patient_cell_init
