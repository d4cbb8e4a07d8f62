"""The OpenAI-compatible server (chapter 16), tested with the real ``openai`` client on a loopback port."""

import base64
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import openai
import pytest
import torch

from mmlab.align.instruction_tuning import SFTSettings, train_sft_model
from mmlab.serve import LIMITS, ChatBackend, create_app
from mmlab.serve.__main__ import main
from mmlab.serve.backends import minilm_backend
from mmlab.serve.server import start_server

KEY = "test-key"
MODEL = "mmlab-chat"
PROMPTS = [f"what colour is {t}" for t in ("grass", "sky", "snow", "coal", "rose", "milk", "sea", "ink")]
PROMPTS += [f"reverse {a} {b}" for a, b in [("cat", "dog"), ("sun", "hat"), ("cup", "box"), ("pen", "fox")]]
PROMPTS += [f"rate {a} {b} {c}" for a, b, c in [("fun", "nice", "dull"), ("awful", "slow", "great")]]
PROMPTS += ["colour of leaf", "colour of blood", "reverse owl bee", "rate weak sweet fun", "hello", "hi"]


@pytest.fixture(scope="module")
def backend():
    torch.manual_seed(0)
    result = train_sft_model(0, SFTSettings(max_steps=300, pretrain_steps=30))  # about 10 s
    return ChatBackend(result.model, result.tokenizer)


@pytest.fixture(scope="module")
def server(backend):
    app = create_app({MODEL: backend}, {"all-minilm-l6-v2": minilm_backend()}, api_key=KEY)
    handle = start_server(app)
    yield handle
    handle.close()


@pytest.fixture()
def client(server):
    return openai.OpenAI(base_url=server.url, api_key=KEY, max_retries=0, timeout=60)


def user(text):
    return [{"role": "user", "content": text}]


def direct(backend, text, **settings):
    """What the model writes for ``text`` without the server (greedy unless told)."""
    settings = {"temperature": 0.0, "top_p": 1.0, "max_tokens": None, "stop": ()} | settings
    return backend.complete(backend.prompt_ids(user(text)), **settings)


def test_binds_loopback_and_lists_models(server, client):
    assert server.url.startswith("http://127.0.0.1:")
    assert [m.id for m in client.models.list()] == [MODEL, "all-minilm-l6-v2"]


def test_chat_completion_is_the_models_reply(backend, client):
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "be brief"}, *user("What colour is grass?")],
        temperature=0,
    )
    choice = reply.choices[0]
    expected = backend.complete(
        backend.prompt_ids([{"role": "system", "content": "be brief"}, *user("what colour is grass")]),
        temperature=0.0,
        top_p=1.0,
        max_tokens=None,
    )
    assert choice.message.role == "assistant" and choice.message.content == expected.text
    assert "green" in choice.message.content.split()  # the trained model knows the fact
    assert choice.finish_reason == "stop"  # it ended its turn with the end-of-turn token
    ids = backend.prompt_ids(user("what colour is grass"))
    assert reply.usage.prompt_tokens == len(ids) + 4  # "S: be brief \n" adds 4 tokens; "?" and capitals none
    assert reply.usage.completion_tokens == expected.tokens


def test_max_tokens_cuts_the_reply(backend, client):
    reply = client.chat.completions.create(
        model=MODEL, messages=user("reverse cat dog"), temperature=0, max_tokens=1
    )
    full = direct(backend, "reverse cat dog").text
    assert reply.choices[0].message.content == full.split()[0]
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 1


def test_stop_string_ends_the_reply(backend, client):
    full = direct(backend, "what colour is sky").text
    words = full.split()
    assert len(words) >= 2, full
    stop = " " + words[1]
    reply = client.chat.completions.create(
        model=MODEL, messages=user("what colour is sky"), temperature=0, stop=[stop]
    )
    assert reply.choices[0].message.content == full[: full.index(stop)]
    assert reply.choices[0].finish_reason == "stop"
    chunks = client.chat.completions.create(
        model=MODEL, messages=user("what colour is sky"), temperature=0, stop=stop, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == full[: full.index(stop)]


def test_streaming_sends_the_same_reply_in_pieces(backend, client):
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=user("reverse sun hat"), temperature=0, stream=True
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) >= 2  # word by word, not one block
    assert "".join(pieces) == direct(backend, "reverse sun hat").text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_sampling_n_seed_and_top_p(backend, client):
    def ask(**kw):
        r = client.chat.completions.create(
            model=MODEL, messages=user("rate fun nice dull"), max_tokens=6, **kw
        )
        return [c.message.content for c in r.choices]

    sampled = ask(n=4, temperature=2.0, seed=7)
    assert len(sampled) == 4 and sampled == ask(n=4, temperature=2.0, seed=7)  # a seed replays
    assert len(set(sampled + ask(n=4, temperature=2.0, seed=8))) > 1  # temperature 2 varies
    greedy = direct(backend, "rate fun nice dull", max_tokens=6).text
    assert ask(n=3, temperature=0) == [greedy] * 3
    assert ask(n=2, temperature=1.5, top_p=1e-6, seed=3) == [greedy] * 2  # top-p keeps only the top word


def test_twenty_concurrent_requests_each_answered_right(backend, server):
    expected = {p: direct(backend, p).text for p in PROMPTS}
    assert len(PROMPTS) == 20

    def ask(prompt):
        c = openai.OpenAI(base_url=server.url, api_key=KEY, max_retries=0, timeout=60)
        r = c.chat.completions.create(model=MODEL, messages=user(prompt), temperature=0)
        return prompt, r.choices[0].message.content

    with ThreadPoolExecutor(max_workers=10) as pool:  # bounded: 10 in flight at most
        answers = dict(pool.map(ask, PROMPTS, timeout=120))
    assert answers == expected


BAD_CHAT = [
    (dict(model="gpt-4o"), 404, "model", "model_not_found"),
    (dict(messages=[]), 400, "messages", None),
    (dict(messages=[{"role": "tool", "content": "hi"}]), 400, "messages[0].role", None),
    (
        dict(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hi"}]),
        400,
        "messages",
        None,
    ),
    (dict(messages=[{"role": "user", "content": 5}]), 400, "messages[0].content", None),
    (
        dict(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
        400,
        "messages[0]",
        None,
    ),
    (dict(messages=user("U: grass")), 400, "messages[0].content", None),
    (dict(messages=user("what colour is a zebra")), 400, "messages[0].content", None),
    (dict(messages=user("what colour is grass " * 10)), 400, "messages", "context_length_exceeded"),
    (dict(temperature=2.5), 400, "temperature", None),
    (dict(temperature=-1), 400, "temperature", None),
    (dict(top_p=1.1), 400, "top_p", None),
    (dict(max_tokens=0), 400, "max_tokens", None),
    (dict(max_tokens=10_000), 400, "max_tokens", None),
    (dict(n=9), 400, "n", None),
    (dict(stop=["a", "b", "c", "d", "e"]), 400, "stop", None),
    (dict(stop=""), 400, "stop", None),
]


@pytest.mark.parametrize(("change", "status", "param", "code"), BAD_CHAT)
def test_bad_chat_requests_get_openai_errors(client, change, status, param, code):
    request = dict(model=MODEL, messages=user("hi")) | change
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(**request)
    assert err.value.status_code == status
    body = err.value.body
    assert body["param"] == param and body["code"] == code and body["type"] == "invalid_request_error"
    assert body["message"] and "Traceback" not in body["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (json.dumps({"model": MODEL, "messages": user("hi"), "temperature": "hot"}).encode(), 400, None),
        (json.dumps({"model": MODEL, "messages": user("hi"), "stream": "yes"}).encode(), 400, None),
        (json.dumps({"model": MODEL, "messages": user("hi " * 30_000)}).encode(), 413, "request_too_large"),
        (b"[" * 30_000 + b"]" * 30_000, 400, "invalid_json"),
    ],
)
def test_malformed_bodies(server, body, status, code):
    r = httpx.post(f"{server.url}/chat/completions", content=body, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == status
    error = r.json()["error"]
    assert error["code"] == code and error["message"] and "Traceback" not in r.text


def test_a_body_without_content_length_is_capped(server):
    def chunks():
        for _ in range(100):
            yield b" " * 1_000  # 100 kB in chunks: no Content-Length header is sent

    r = httpx.post(
        f"{server.url}/chat/completions", content=chunks(), headers={"Authorization": f"Bearer {KEY}"}
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_api_key_is_checked(server):
    for key in ("wrong", ""):
        bad = openai.OpenAI(base_url=server.url, api_key=key or "x", max_retries=0)
        if not key:
            bad = openai.OpenAI(
                base_url=server.url, api_key="unused", max_retries=0, default_headers={"Authorization": ""}
            )
        with pytest.raises(openai.AuthenticationError) as err:
            bad.models.list()
        assert err.value.status_code == 401 and err.value.body["code"] == "invalid_api_key"


def test_unknown_path_and_method(server):
    headers = {"Authorization": f"Bearer {KEY}"}
    assert httpx.get(f"{server.url}/completions/../../etc/passwd", headers=headers).status_code == 404
    r = httpx.get(f"{server.url}/chat/completions", headers=headers)
    assert r.status_code == 405 and "error" in r.json()


def test_a_server_fault_is_a_500_without_traceback(backend):
    class Broken(ChatBackend):
        def complete(self, ids, **kwargs):
            raise RuntimeError("secret internals")

    handle = start_server(create_app({MODEL: Broken(backend.model, backend.tokenizer)}))
    try:
        r = httpx.post(f"{handle.url}/chat/completions", json={"model": MODEL, "messages": user("hi")})
        assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
        assert "secret" not in r.text and "Traceback" not in r.text
    finally:
        handle.close()


def test_embeddings_are_minilms_unit_vectors(client):
    from mmlab.search.dense import embed_texts

    texts = ["how do I return a kettle", "refund policy", "what colour is grass"]
    got = client.embeddings.create(model="all-minilm-l6-v2", input=texts)  # the client asks for base64
    vectors = np.array([d.embedding for d in got.data])
    assert vectors.shape == (3, 384) and [d.index for d in got.data] == [0, 1, 2]
    np.testing.assert_allclose(vectors, embed_texts(texts), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one = client.embeddings.create(model="all-minilm-l6-v2", input="refund policy", encoding_format="float")
    np.testing.assert_allclose(one.data[0].embedding, vectors[1], atol=1e-6)
    assert got.usage.prompt_tokens > 3


@pytest.mark.parametrize(
    ("change", "status", "param"),
    [
        (dict(model=MODEL), 404, "model"),
        (dict(input=""), 400, "input"),
        (dict(input=[]), 400, "input"),
        (dict(input=[[1, 2, 3]]), 400, "input"),
        (dict(input=["x"] * (LIMITS["inputs"] + 1)), 400, "input"),
        (dict(input="word " * 300), 400, "input"),
        (dict(encoding_format="int8"), 400, "encoding_format"),
        (dict(dimensions=128), 400, "dimensions"),
    ],
)
def test_bad_embedding_requests(client, change, status, param):
    with pytest.raises(openai.APIStatusError) as err:
        client.embeddings.create(**(dict(model="all-minilm-l6-v2", input="hello") | change))
    assert err.value.status_code == status and err.value.body["param"] == param


def test_base64_embedding_is_float32_little_endian(server):
    r = httpx.post(
        f"{server.url}/embeddings",
        json={"model": "all-minilm-l6-v2", "input": "hello", "encoding_format": "base64"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    vector = np.frombuffer(base64.b64decode(r.json()["data"][0]["embedding"]), dtype="<f4")
    assert vector.shape == (384,) and abs(np.linalg.norm(vector) - 1) < 1e-5


def test_command_line_defaults_to_loopback_and_reads_the_key(monkeypatch):
    seen = {}

    def fake_app(chat, embeddings, api_key):
        seen["key"] = api_key

    monkeypatch.setenv("MMLAB_API_KEY", "from-env")
    monkeypatch.setattr("mmlab.serve.__main__.course_backends", lambda run, embeddings: ({}, {}))
    monkeypatch.setattr("mmlab.serve.__main__.create_app", fake_app)
    monkeypatch.setattr(
        "mmlab.serve.__main__.uvicorn.run", lambda app, host, port, **kw: seen.update(host=host, port=port)
    )
    main([])
    assert seen == {"key": "from-env", "host": "127.0.0.1", "port": 8000}
    main(["--api-key", "flag", "--port", "9001"])
    assert seen == {"key": "flag", "host": "127.0.0.1", "port": 9001}
