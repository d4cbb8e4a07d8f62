"""``python -m mmlab.serve``: the course's chat model and MiniLM behind an OpenAI-compatible API (chapter 16).

Binds 127.0.0.1 by default (``--host 0.0.0.0`` exposes it to the network: set an API key then).
The API key comes from ``--api-key`` or the ``MMLAB_API_KEY`` environment variable; without one,
requests need no key. ``--chat-run DIR`` serves a chat model saved by ``python -m mmlab.train sft
--out DIR``; without it the chapter 07 recipe trains at start-up (about 20 s on a CPU).
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from mmlab.serve.app import create_app
from mmlab.serve.server import HOST, course_backends


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mmlab.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=HOST, help=f"address to bind (default {HOST}, this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--api-key", default=os.environ.get("MMLAB_API_KEY"), help="required key (or MMLAB_API_KEY)"
    )
    parser.add_argument(
        "--chat-run", default=None, help="run folder of an sft/dpo/ppo job (default: train now)"
    )
    parser.add_argument(
        "--no-embeddings", action="store_true", help="serve no embedding model (skips MiniLM)"
    )
    args = parser.parse_args(argv)
    chat, embeddings = course_backends(args.chat_run, embeddings=not args.no_embeddings)
    app = create_app(chat, embeddings, api_key=args.api_key or None)
    print(f"serving {', '.join([*chat, *embeddings])} at http://{args.host}:{args.port}/v1")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
