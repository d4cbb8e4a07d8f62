"""The OpenAI-compatible HTTP API (chapter 16): ``GET /v1/models``, ``POST /v1/chat/completions``
(streaming as server-sent events) and ``POST /v1/embeddings``, as a FastAPI app.

Every request is checked before a model runs, and every refusal is OpenAI's error JSON
``{"error": {"message", "type", "param", "code"}}`` with the status OpenAI uses: 400 for a bad
request (malformed JSON, wrong roles, empty messages, a prompt longer than the context,
out-of-range parameters), 401 for a missing or wrong API key, 404 for an unknown model or path,
413 for an oversized body, 429 when too many requests are waiting. A fault of the server is a 500
with a short message, never a traceback. Models are given by the program that builds the app
(:mod:`mmlab.serve.__main__`); no request can name a file.
"""

from __future__ import annotations

import base64
import hmac
import json
import math
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import numpy as np
import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from mmlab.serve.backends import ChatBackend, Choice, EmbeddingBackend, RequestError

__all__ = ["LIMITS", "create_app"]

LIMITS = dict(
    body_bytes=64_000,  # the largest request body
    messages=64,  # the most messages in one request
    n=8,  # the most choices per request
    stop=4,  # the most stop strings (as OpenAI)
    stop_chars=32,  # the longest stop string
    inputs=256,  # the most texts per embeddings request
    workers=4,  # requests that run a model at once
    waiting=64,  # requests that may wait for a worker; more get 429
)
ROLES = ("system", "user", "assistant")
_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error"}
_ERROR_TYPES |= {413: "invalid_request_error", 429: "rate_limit_error", 500: "server_error"}


def _error(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    body = {"message": message, "type": _ERROR_TYPES.get(status, "invalid_request_error"), "param": param}
    return JSONResponse({"error": body | {"code": code}}, status_code=status)


def _number(body: dict, name: str, default: float, low: float, high: float, whole: bool = False) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    kind = "an integer" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        raise RequestError(f"'{name}' must be {kind}, got {json.dumps(value)[:40]}", name)
    if not (math.isfinite(value) and low <= value <= high):
        raise RequestError(f"'{name}' must be between {low:g} and {high:g}, got {value!r}", name)
    return value


def _messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list of {role, content} objects", "messages")
    if len(messages) > LIMITS["messages"]:
        raise RequestError(f"at most {LIMITS['messages']} messages per request", "messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise RequestError(f"messages[{i}] must be an object with 'role' and 'content'", f"messages[{i}]")
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise RequestError(
                f"messages[{i}].role is {json.dumps(role)[:40]}; this model takes {', '.join(ROLES)}",
                f"messages[{i}].role",
            )
        if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
            if not all(isinstance(p, dict) and p.get("type") == "text" for p in content):
                raise RequestError(
                    f"messages[{i}].content: this model reads text parts only", f"messages[{i}]"
                )
            content = " ".join(str(p.get("text", "")) for p in content)
        if not isinstance(content, str):
            raise RequestError(f"messages[{i}].content must be a string", f"messages[{i}].content")
        out.append({"role": role, "content": content})
    if out[-1]["role"] != "user":
        raise RequestError(
            "the last message must be the user's: the model writes the assistant's reply", "messages"
        )
    return out


def _stop(body: dict) -> list[str]:
    stop = body.get("stop")
    stop = [] if stop is None else [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or len(stop) > LIMITS["stop"]:
        raise RequestError(f"'stop' must be a string or a list of at most {LIMITS['stop']} strings", "stop")
    if not all(isinstance(s, str) and 0 < len(s) <= LIMITS["stop_chars"] for s in stop):
        raise RequestError(f"each stop string must have 1 to {LIMITS['stop_chars']} characters", "stop")
    return stop


def _chat_request(body: dict, backend: ChatBackend) -> dict:
    """The checked settings of a chat request (raises :class:`RequestError`)."""
    messages = _messages(body)
    limit = backend.block_size
    settings = dict(
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0),
        max_tokens=_number(body, "max_completion_tokens", None, 1, limit, whole=True),
        stop=_stop(body),
    )
    if settings["max_tokens"] is None:
        settings["max_tokens"] = _number(body, "max_tokens", None, 1, limit, whole=True)
    n = _number(body, "n", 1, 1, LIMITS["n"], whole=True)
    seed = _number(body, "seed", None, -(2**63), 2**63 - 1, whole=True)
    if not isinstance(body.get("stream", False), bool):
        raise RequestError("'stream' must be true or false", "stream")
    return dict(ids=backend.prompt_ids(messages), settings=settings, n=n, seed=seed)


def create_app(
    chat: dict[str, ChatBackend],
    embeddings: dict[str, EmbeddingBackend] | None = None,
    api_key: str | None = None,
) -> FastAPI:
    """The API serving ``chat`` and ``embeddings`` backends under their model ids.

    Args:
        chat: model id -> :class:`ChatBackend` (e.g. ``{"mmlab-chat": ...}``).
        embeddings: model id -> :class:`EmbeddingBackend` (e.g. ``{"all-minilm-l6-v2": ...}``).
        api_key: when set, every request must send ``Authorization: Bearer <api_key>``.
    """
    embeddings = embeddings or {}
    app = FastAPI(title="mmlab OpenAI-compatible API", docs_url=None, redoc_url=None, openapi_url=None)
    limiter = anyio.CapacityLimiter(LIMITS["workers"])
    state = {"waiting": 0}
    created = int(time.time())

    async def run(fn, *args):
        """``fn(*args)`` on a worker thread, at most ``workers`` at once; 429 past ``waiting``."""
        if state["waiting"] >= LIMITS["waiting"]:
            raise RequestError(
                "too many requests are waiting; retry shortly", None, "rate_limit_exceeded", 429
            )
        state["waiting"] += 1
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)
        finally:
            state["waiting"] -= 1

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if api_key is not None:
            sent = request.headers.get("authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {api_key}".encode()):
                return _error(
                    401,
                    "Incorrect or missing API key: send 'Authorization: Bearer <key>'.",
                    None,
                    "invalid_api_key",
                )
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > LIMITS["body_bytes"]):
            return _error(
                413,
                f"the request body is larger than {LIMITS['body_bytes']:,} bytes",
                None,
                "request_too_large",
            )
        try:
            return await call_next(request)
        except Exception:  # a fault of ours: a short message, never a traceback
            return _error(500, "the server failed to answer this request", None, "internal_error")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException):
        message = "no such path: the API serves /v1/models, /v1/chat/completions and /v1/embeddings"
        return _error(err.status_code, message if err.status_code == 404 else str(err.detail), None, None)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, err: RequestError):
        return _error(err.status, str(err), err.param, err.code)

    async def json_body(request: Request) -> dict:
        raw = b""
        async for chunk in request.stream():  # read at most the limit, even without a Content-Length
            raw += chunk
            if len(raw) > LIMITS["body_bytes"]:
                raise RequestError(
                    f"the request body is larger than {LIMITS['body_bytes']:,} bytes",
                    None,
                    "request_too_large",
                    413,
                )
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly deep nesting
            raise RequestError("the request body is not valid JSON", None, "invalid_json") from None
        if not isinstance(body, dict):
            raise RequestError("the request body must be a JSON object", None, "invalid_json")
        return body

    def model_of(body: dict, table: dict) -> tuple[str, Any]:
        name = body.get("model")
        if not isinstance(name, str) or name not in table:
            served = ", ".join(sorted(table)) or "none"
            raise RequestError(
                f"The model {json.dumps(name)[:60]} does not exist here; this endpoint serves: {served}",
                "model",
                "model_not_found",
                404,
            )
        return name, table[name]

    @app.get("/v1/models")
    async def list_models():
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "mmlab"}
            for name in [*chat, *embeddings]
        ]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        body = await json_body(request)
        name, backend = model_of(body, chat)
        req = _chat_request(body, backend)
        rid, now = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        seed = req["seed"]
        generators = [
            torch.Generator().manual_seed((seed if seed is not None else int(time.time_ns())) + i)
            for i in range(req["n"])
        ]
        if body.get("stream"):
            events = _sse(backend, req, generators, rid, now, name)

            async def bounded():  # each next event is computed on a worker, under the same bound
                while (event := await run(next, events, None)) is not None:
                    yield event

            return StreamingResponse(
                bounded(),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )

        def answer() -> list[Choice]:
            return [backend.complete(req["ids"], generator=g, **req["settings"]) for g in generators]

        choices = await run(answer)
        used = sum(c.tokens for c in choices)
        return {
            "id": rid,
            "object": "chat.completion",
            "created": now,
            "model": name,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": c.text},
                    "finish_reason": c.finish_reason,
                    "logprobs": None,
                }
                for i, c in enumerate(choices)
            ],
            "usage": {
                "prompt_tokens": len(req["ids"]),
                "completion_tokens": used,
                "total_tokens": len(req["ids"]) + used,
            },
        }

    @app.post("/v1/embeddings")
    async def create_embeddings(request: Request):
        body = await json_body(request)
        name, backend = model_of(body, embeddings)
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise RequestError(
                "'input' must be a non-empty string or a list of strings (token ids are not supported)",
                "input",
            )
        if len(texts) > LIMITS["inputs"] or any(not t.strip() for t in texts):
            raise RequestError(f"'input' takes 1 to {LIMITS['inputs']} texts, none empty", "input")
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise RequestError("'encoding_format' must be 'float' or 'base64'", "encoding_format")
        counts = [backend.count_tokens(t) for t in texts]
        too_long = [i for i, c in enumerate(counts) if c > backend.max_tokens]
        if too_long:
            raise RequestError(
                f"input {too_long[0]} is {counts[too_long[0]]} tokens; this model reads at most {backend.max_tokens}",
                "input",
                "context_length_exceeded",
            )
        vectors = np.asarray(await run(backend.encode, texts), dtype=np.float32)
        dims = body.get("dimensions")
        if dims is not None and dims != vectors.shape[1]:
            raise RequestError(
                f"'dimensions' must be {vectors.shape[1]} for this model (or left out)", "dimensions"
            )

        def encoded(v: np.ndarray) -> Any:
            return base64.b64encode(v.astype("<f4").tobytes()).decode() if fmt == "base64" else v.tolist()

        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": encoded(v)} for i, v in enumerate(vectors)
            ],
            "model": name,
            "usage": {"prompt_tokens": sum(counts), "total_tokens": sum(counts)},
        }

    return app


def _sse(backend: ChatBackend, req: dict, generators: list, rid: str, now: int, name: str) -> Iterator[str]:
    """Server-sent events of a streamed chat completion: a role chunk, text chunks and a finishing
    chunk per choice, then ``data: [DONE]``."""

    def chunk(index: int, delta: dict, finish: str | None) -> str:
        data = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": now,
            "model": name,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        return f"data: {json.dumps(data)}\n\n"

    for i, g in enumerate(generators):
        yield chunk(i, {"role": "assistant", "content": ""}, None)
        for piece in backend.stream(req["ids"], generator=g, **req["settings"]):
            if isinstance(piece, Choice):
                yield chunk(i, {}, piece.finish_reason)
            else:
                yield chunk(i, {"content": piece}, None)
    yield "data: [DONE]\n\n"
