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
  :func:`friendly_error`; :func:`check_number` and :func:`check_text` check a typed or sent value.
* Messages and labels follow the learner's language (:func:`mmlab.set_language`, read when a demo
  is built and when a message is made): :class:`DemoInputError` messages, the request checks' and
  :func:`tr`'s texts go through the catalog of :mod:`mmlab.messages` (``mmlab/demos/zh/``), and
  :func:`localize_app` (called by every ``build_*()``) translates an app's labels, placeholders,
  info texts, button texts and markdown.
* Requests are checked before any callback runs (:func:`harden`, applied by :func:`show`): a file
  must come from the app's upload box (a request naming any other path on the server is refused),
  texts and requests have a size limit, and a value Gradio cannot read gets a short message, never
  an exception's name. :func:`show` also caps uploads (:data:`MAX_FILE_SIZE`), deletes old uploads
  and queues requests (one at a time per event, at most :data:`QUEUE_SIZE` waiting).

Analytics are off: ``mmlab/__init__.py`` sets ``GRADIO_ANALYTICS_ENABLED=False`` before Gradio is
imported, and nothing here contacts the internet.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from gradio.utils import get_upload_folder  # noqa: E402
from PIL import Image  # noqa: E402

from mmlab.i18n import en_zh, get_language  # noqa: E402
from mmlab.messages import localize  # noqa: E402

__all__ = [
    "DemoHandle",
    "DemoInputError",
    "close_all",
    "free_port",
    "friendly_error",
    "harden",
    "in_notebook",
    "check_number",
    "localize_app",
    "show",
    "check_picture_size",
    "check_text",
    "open_picture",
    "picture_from_value",
    "tr",
]

HOST = "127.0.0.1"
MAX_TEXT_CHARS = 2_000  # the longest text any demo input takes (the models read far fewer tokens)
MAX_REQUEST_ITEMS = 5_000  # strings, numbers and files in one request (e.g. a chat history's turns)
MAX_FILE_SIZE = "10mb"  # the largest upload
MAX_PIXELS = 4096 * 4096  # the largest picture (a small PNG can hold a huge one: a decompression bomb)
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
QUEUE_SIZE = 64  # requests waiting at most; more are told the demo is busy
DELETE_CACHE = (600, 1800)  # every 10 minutes, delete uploads older than 30 minutes
_running: list[gr.Blocks] = []
_log = logging.getLogger(__name__)


def tr(text: str) -> str:
    """A demo's English text in the learner's language (the catalog in ``mmlab/demos/zh/``)."""
    return localize(text, "demos")


class DemoInputError(ValueError):
    """An input the demo cannot handle; its message (translated by :func:`tr`) is shown as is."""

    def __init__(self, message: str = "") -> None:
        super().__init__(tr(message))


def friendly_error(err: BaseException) -> str:
    """The message shown in the app for an error: the text of a :class:`DemoInputError`, or a short
    sentence for anything unexpected (never a traceback or an exception's name; the details go to
    the server's log)."""
    if isinstance(err, DemoInputError):
        return f"⚠️ {err}"
    _log.warning("demo callback failed", exc_info=err)
    return en_zh(
        "⚠️ The model could not handle this input. Check the values and try again.",
        "⚠️ 模型处理不了这个输入。请检查输入的值，再试一次。",
    )


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
) -> float:
    """``value`` as a finite number in ``[low, high]`` (whole if ``integer``), or a
    :class:`DemoInputError` that names the setting and its allowed range."""
    both = low is not None and high is not None
    span = f" from {low:g} to {high:g}" if both else f", {low:g} or more" if low is not None else ""
    span_zh = f"，范围 {low:g} 到 {high:g}" if both else f"，不小于 {low:g}" if low is not None else ""
    kind = en_zh("a whole number", "整数") if integer else en_zh("a number", "数字")
    must = en_zh(f"{name} must be {kind}{span}", f"{tr(name)}必须是{kind}{span_zh}")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DemoInputError(en_zh(f"{must}.", f"{must}。"))
    try:
        result = float(value)
    except ValueError:
        raise DemoInputError(
            en_zh(f"{must}, got {str(value)[:20]!r}.", f"{must}，得到的是 {str(value)[:20]!r}。")
        ) from None
    if (
        not math.isfinite(result)
        or (integer and result != int(result))
        or (low is not None and result < low)
        or (high is not None and result > high)
    ):
        raise DemoInputError(
            en_zh(f"{must}, got {str(value)[:20]}.", f"{must}，得到的是 {str(value)[:20]}。")
        )
    return int(result) if integer else result


def check_text(value: Any, name: str, *, limit: int = MAX_TEXT_CHARS, example: str = "") -> str:
    """``value`` as non-empty text of at most ``limit`` characters (spaces collapsed), or a
    :class:`DemoInputError` saying what to type."""
    if value is None or (isinstance(value, str) and not value.strip()):
        hint = en_zh(f", e.g. '{example}'", f"，例如“{example}”") if example else ""
        raise DemoInputError(
            en_zh(
                f"The {name} is empty: type a {name} first{hint}.",
                f"{tr(name)}是空的：请先输入{tr(name)}{hint}。",
            )
        )
    if not isinstance(value, str):
        raise DemoInputError(en_zh(f"The {name} must be text.", f"{tr(name)}必须是文本。"))
    if len(value) > limit:
        raise DemoInputError(
            en_zh(
                f"The {name} is {len(value):,} characters long; this demo takes at most {limit:,}.",
                f"{tr(name)}有 {len(value):,} 个字符；这个演示最多接受 {limit:,} 个。",
            )
        )
    return " ".join(value.split())


def check_picture_size(image: Image.Image) -> None:
    """A :class:`DemoInputError` for a picture over :data:`MAX_PIXELS` (the header is enough)."""
    if image.width * image.height > MAX_PIXELS:
        raise DemoInputError(
            f"The picture is {image.width} x {image.height} pixels; the demo takes at most "
            f"{MAX_PIXELS:,} pixels. Use a smaller picture."
        )


def open_picture(path: Any) -> Image.Image:
    """An uploaded file as an RGB image, or a :class:`DemoInputError`: not a PNG/JPEG/GIF/BMP/WebP
    picture (text, SVG, an empty or truncated file), or bigger than :data:`MAX_PIXELS` (checked from
    the header, before the pixels are decoded)."""
    path = path if isinstance(path, (str, os.PathLike)) else getattr(path, "name", path)
    name = os.path.basename(str(path))[:60]
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as opened:
            check_picture_size(opened)
            opened.load()
            return opened.convert("RGB")
    except DemoInputError:
        raise
    except (OSError, ValueError, TypeError, SyntaxError, Image.DecompressionBombError) as err:
        _log.info("not a picture: %s", err)
        raise DemoInputError(
            f"'{name}' is not a picture this demo can read (empty, cut short or not an image): "
            "upload a PNG or JPEG."
        ) from None


def picture_from_value(value: Any) -> Image.Image | None:
    """A PIL image from what an image component hands a callback (a PIL image or an array)."""
    if value is None or isinstance(value, Image.Image):
        result = value
    elif isinstance(value, np.ndarray) and value.ndim in (2, 3) and value.size:
        result = Image.fromarray(np.clip(value, 0, 255).astype(np.uint8))
    else:
        raise DemoInputError("The picture could not be read: draw, pick or upload one.")
    if result is not None:
        check_picture_size(result)
    return result


def _request_problem(value: Any, upload_folder: Path) -> str | None:
    """Why a request's raw inputs are refused (a path outside the upload folder, too long a text,
    too many items), or None."""
    stack, items = [value], 0
    while stack:
        item = stack.pop()
        items += 1
        if items > MAX_REQUEST_ITEMS:
            return f"The request is too large (more than {MAX_REQUEST_ITEMS:,} values)."
        if isinstance(item, str) and len(item) > 20 * MAX_TEXT_CHARS:
            return f"A text in the request is {len(item):,} characters long; the demo takes at most {MAX_TEXT_CHARS:,}."
        if isinstance(item, dict):
            path = item.get("path")
            if path is not None:
                try:
                    inside = Path(os.path.realpath(str(path))).is_relative_to(upload_folder)
                except (TypeError, ValueError, OSError):
                    inside = False
                if not inside:
                    return "Pictures and files reach this demo only through its upload box; a path on the server is refused."
                try:  # a picture's size is in its header: refuse a decompression bomb before anyone decodes it
                    with Image.open(path, formats=IMAGE_FORMATS) as opened:
                        check_picture_size(opened)
                except DemoInputError as err:
                    return str(err)
                except Image.DecompressionBombError:
                    return f"The picture is far bigger than the {MAX_PIXELS:,} pixels this demo takes."
                except Exception:  # not a picture: the demo's own check says so
                    pass
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def _with_clear_errors(step):
    """An async step of Gradio's request handling whose unexpected errors become a short gr.Error."""

    async def checked(*args, **kwargs):
        try:
            return await step(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as err:
            _log.warning("demo request failed", exc_info=err)
            raise gr.Error(
                tr(
                    "The demo could not handle this request: use the app's controls (or press Clear) and try again."
                ),
                print_exception=False,
            ) from None

    return checked


def harden(app: gr.Blocks) -> gr.Blocks:
    """Check every request to ``app`` before its callback runs (idempotent; :func:`show` calls it).

    A file in a request must lie in Gradio's upload folder (where the upload box puts it): a request
    that names another path on the server (``{"path": "/etc/passwd"}``) or a URL is refused before
    any component opens it. Oversized texts and requests are refused, and a value a component cannot
    read (text for a number, a malformed file record) gets a short message instead of an exception.
    """
    if getattr(app, "_mmlab_hardened", False):
        return app
    preprocess = app.preprocess_data
    upload_folder = Path(os.path.realpath(get_upload_folder()))

    async def checked_preprocess(block_fn, inputs, *args, **kwargs):
        problem = _request_problem(inputs, upload_folder)
        if problem:
            raise gr.Error(tr(problem), print_exception=False)
        try:
            return await preprocess(block_fn, inputs, *args, **kwargs)
        except gr.Error:
            raise
        except Exception as err:
            _log.warning("demo input refused", exc_info=err)
            raise gr.Error(
                tr(
                    "An input has the wrong type or form for this demo (for example text where a number "
                    "goes, or a file that is not an image). Use the app's controls and try again."
                ),
                print_exception=False,
            ) from None

    app.preprocess_data = checked_preprocess
    for name in ("call_function", "postprocess_data"):  # e.g. Gradio's own chat helpers on a bad history
        setattr(app, name, _with_clear_errors(getattr(app, name)))
    app._mmlab_hardened = True
    return app


def localize_app(app: gr.Blocks) -> gr.Blocks:
    """Put ``app``'s labels, placeholders, info texts, button texts, markdown and title in the
    learner's language (nothing to do in English); every ``build_*()`` returns its app through it."""
    if get_language() == "en":
        return app
    for block in app.blocks.values():
        for name in ("label", "placeholder", "info"):
            if isinstance(getattr(block, name, None), str):
                setattr(block, name, tr(getattr(block, name)))
        if isinstance(block, (gr.Button, gr.Markdown)) and isinstance(block.value, str):
            block.value = tr(block.value)
        choices = getattr(block, "choices", None)  # (label, value) pairs: only the label is shown
        if isinstance(choices, list) and all(isinstance(c, tuple) and len(c) == 2 for c in choices):
            block.choices = [(tr(str(label)), value) for label, value in choices]
    app.title = tr(app.title)
    return app


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
    concurrency: int = 1,
    **launch_kwargs: Any,
) -> DemoHandle:
    """Launch ``app`` locally without blocking and return a handle that closes it.

    Args:
        app: a ``gr.Blocks`` app, e.g. from ``build_attention_demo(...)``.
        port: the port on 127.0.0.1 (default: a free one).
        inline: show the app in the notebook output (default: when running in Jupyter/Colab).
        height: height of the inline frame in pixels.
        concurrency: how many requests of one event run at once (the others wait in the queue).
        share: a public ``*.gradio.live`` link; off unless you ask for it, because it exposes your
            machine to anyone with the link.
        launch_kwargs: passed on to ``app.launch`` (e.g. ``theme``, ``css``).
    """
    if not isinstance(app, gr.Blocks):
        raise TypeError(
            f"show() takes a Gradio Blocks app (from a build_*() function), got {type(app).__name__}"
        )
    close_all()  # re-running a cell replaces the old demo instead of starting a second server
    harden(app)
    app.delete_cache = app.delete_cache or DELETE_CACHE
    app.queue(max_size=QUEUE_SIZE, default_concurrency_limit=concurrency, api_open=False)
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
        "max_file_size": MAX_FILE_SIZE,
        "show_error": False,  # an unexpected error's text stays in the server log
    }
    settings.update(launch_kwargs)
    _, local_url, _ = app.launch(**settings)
    _running.append(app)
    return DemoHandle(app, str(local_url))
