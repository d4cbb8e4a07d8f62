"""Demo conventions for the whole course: how an app is launched, shown and closed.

* ``build_*()`` functions (one module per demo) return a ``gr.Blocks`` app without launching it.
* :func:`show` launches an app on 127.0.0.1 (a free port), never with a public share link (Gradio
  turns sharing on by itself on Colab; we pass ``share=False`` explicitly), without blocking the
  kernel, inline when running in Jupyter or Colab. It closes every demo launched before, so
  re-running a cell never piles up servers. It returns a :class:`DemoHandle`; ``handle.close()``
  stops the server.
* Errors a learner can cause (empty input, text longer than the model takes, characters the
  tokenizer does not know) are shown in the app as a message, never as a traceback:
  demos raise :class:`DemoInputError` inside their callbacks and turn it into text with
  :func:`friendly_error`.

Analytics are off: ``mmlab/__init__.py`` sets ``GRADIO_ANALYTICS_ENABLED=False`` before Gradio is
imported, and nothing here contacts the internet.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

__all__ = ["DemoHandle", "DemoInputError", "close_all", "free_port", "friendly_error", "in_notebook", "show"]

HOST = "127.0.0.1"
_running: list[gr.Blocks] = []


class DemoInputError(ValueError):
    """An input the demo cannot handle; its message is shown to the user as is."""


def friendly_error(err: BaseException) -> str:
    """The message shown in the app for an error: the text of a :class:`DemoInputError`, or a short
    description of anything unexpected (never a traceback)."""
    if isinstance(err, DemoInputError):
        return f"⚠️ {err}"
    return f"⚠️ The model could not handle this input ({type(err).__name__}: {err})."


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def in_notebook() -> bool:
    """True inside a Jupyter or Colab kernel (where the app is shown inline)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


@dataclass
class DemoHandle:
    """A running demo: its app and local URL; :meth:`close` stops it."""

    app: gr.Blocks
    url: str

    @property
    def running(self) -> bool:
        """True while the app is served at this handle's URL (not relaunched elsewhere since)."""
        return bool(self.app.is_running) and str(self.app.local_url) == self.url

    def close(self) -> None:
        """Stop the server and free its port (closing twice, or an outdated handle, is harmless)."""
        if self.running:
            self.app.close(verbose=False)
        if self.app in _running:
            _running.remove(self.app)

    def __enter__(self) -> DemoHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "closed"
        return f"DemoHandle({state} at {self.url})"


def close_all() -> None:
    """Close every demo this process launched (and any other running Gradio app)."""
    for app in list(_running):
        if app.is_running:
            app.close(verbose=False)
    _running.clear()
    gr.close_all(verbose=False)


def show(
    app: gr.Blocks,
    *,
    port: int | None = None,
    inline: bool | None = None,
    height: int = 560,
    share: bool = False,
    **launch_kwargs: Any,
) -> DemoHandle:
    """Launch ``app`` locally without blocking and return a handle that closes it.

    Args:
        app: a ``gr.Blocks`` app, e.g. from ``build_attention_demo(...)``.
        port: the port on 127.0.0.1 (default: a free one).
        inline: show the app in the notebook output (default: when running in Jupyter/Colab).
        height: height of the inline frame in pixels.
        share: a public ``*.gradio.live`` link; off unless you ask for it, because it exposes your
            machine to anyone with the link.
        launch_kwargs: passed on to ``app.launch`` (e.g. ``theme``, ``css``).
    """
    if not isinstance(app, gr.Blocks):
        raise TypeError(
            f"show() takes a Gradio Blocks app (from a build_*() function), got {type(app).__name__}"
        )
    close_all()  # re-running a cell replaces the old demo instead of starting a second server
    settings: dict[str, Any] = {
        "server_name": HOST,
        "server_port": port or free_port(),
        "share": share,
        "inline": in_notebook() if inline is None else inline,
        "height": height,
        "prevent_thread_lock": True,  # the cell returns; the server runs in a background thread
        "quiet": True,
        "ssr_mode": False,  # no Node.js server
        "mcp_server": False,
        "enable_monitoring": False,
        "footer_links": [],
        "run_history": False,  # nothing stored in the browser
    }
    settings.update(launch_kwargs)
    _, local_url, _ = app.launch(**settings)
    _running.append(app)
    return DemoHandle(app, str(local_url))
