"""An OpenAI-compatible server for the course's models (chapter 16): ``python -m mmlab.serve``.

:func:`~mmlab.serve.app.create_app` builds the FastAPI app from chat and embedding backends
(:mod:`mmlab.serve.backends`); :mod:`mmlab.serve.__main__` is the command line, which loads or
trains the models and runs uvicorn on 127.0.0.1. Any OpenAI client talks to it::

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")
    reply = client.chat.completions.create(model="mmlab-chat", messages=[{"role": "user", "content": "what colour is grass"}])
    reply.choices[0].message.content   # 'green' (give or take a kind word)
"""

from mmlab.serve.app import LIMITS, create_app
from mmlab.serve.backends import ChatBackend, Choice, EmbeddingBackend, RequestError

__all__ = ["LIMITS", "ChatBackend", "Choice", "EmbeddingBackend", "RequestError", "create_app"]
