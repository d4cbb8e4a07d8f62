"""Running the API (chapter 16): the command line's models, and uvicorn in a background thread.

:func:`course_backends` builds what ``python -m mmlab.serve`` serves: chapter 07's chat model
(loaded from a run folder written by ``python -m mmlab.train sft --out DIR``, safetensors only, or
trained at start-up in about 20 s) and the MiniLM encoder. :func:`start_server` runs an app on
127.0.0.1 in a thread (a notebook or a test talks to it with the ``openai`` client) and returns a
handle whose ``close()`` stops it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import uvicorn

from mmlab.serve.backends import ChatBackend, EmbeddingBackend

__all__ = ["HOST", "ServerHandle", "chat_backend", "course_backends", "start_server"]

HOST = "127.0.0.1"


def chat_backend(run_dir: str | None = None, seed: int = 0) -> ChatBackend:
    """Chapter 07's chat GPT: from ``run_dir`` (an ``sft``/``dpo``/``ppo`` run folder) or trained now."""
    from mmlab.data.chat import chat_tokenizer

    if run_dir:
        from mmlab.align.rlhf import load_sft_model

        return ChatBackend(load_sft_model(run_dir), chat_tokenizer())
    from mmlab.align.instruction_tuning import train_sft_model

    result = train_sft_model(seed=seed, progress=True)
    return ChatBackend(result.model, result.tokenizer)


def course_backends(run_dir: str | None = None, embeddings: bool = True):
    """``(chat, embeddings)`` tables for :func:`~mmlab.serve.app.create_app`: ``mmlab-chat`` and,
    with ``embeddings``, ``all-minilm-l6-v2``."""
    chat = {"mmlab-chat": chat_backend(run_dir)}
    table: dict[str, EmbeddingBackend] = {}
    if embeddings:
        from mmlab.serve.backends import minilm_backend

        table["all-minilm-l6-v2"] = minilm_backend()
    return chat, table


@dataclass
class ServerHandle:
    """A running server: ``url`` is its ``/v1`` base URL; ``close()`` stops it."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_server(app, port: int = 0, host: str = HOST) -> ServerHandle:
    """Serve ``app`` on ``host:port`` (0: a free port) from a daemon thread; returns once it listens."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return ServerHandle(server, thread, f"http://{host}:{bound}/v1")
