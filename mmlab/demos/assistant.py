"""The customer-service assistant demo (chapter 16): chat with the shop's RAG assistant and see the
passages it retrieved, their cosine scores and the threshold under which it says it does not know.

``build_assistant_demo(assistant)`` returns a Gradio app (not launched). A message is any English
text (MiniLM reads it; the reader drops words it does not know); an empty or overlong one, or one
holding the chat template's role markers, gets a clear message instead of a reply.
"""

from __future__ import annotations

from typing import Any

from mmlab.assistant import Answer, Assistant
from mmlab.demos.chat import normalise_message
from mmlab.demos.core import MAX_TEXT_CHARS, friendly_error, localize_app, tr

__all__ = ["build_assistant_demo", "passages_table"]


def passages_table(answer: Answer, threshold: float) -> str:
    """The retrieved passages as a Markdown table, the one the reader used marked."""
    rows = [
        f"| {score:.3f} | {item.passage} | {'used' if item is answer.passage else ''} |"
        for item, score in answer.retrieved
    ]
    verdict = (
        f"top score {answer.score:.3f} < threshold {threshold:.3f}: the assistant says it does not know"
        if answer.passage is None
        else f"top score {answer.score:.3f} ≥ threshold {threshold:.3f}: the reader answers from the top passage"
    )
    return "\n".join([tr("| cosine | passage | |"), "|---|---|---|", *rows, "", tr(verdict)])


def build_assistant_demo(assistant: Assistant, title: str = "Shop assistant (RAG)"):
    """A Gradio chat around ``assistant`` with the retrieved passages beside it."""
    import gradio as gr

    if not isinstance(assistant, Assistant) or assistant.retriever is None:
        raise TypeError("build_assistant_demo needs an mmlab Assistant with a retriever")

    def respond(message: Any, history: Any) -> tuple[str, str]:
        try:
            question = normalise_message(message)
            answer = assistant.reply([{"role": "user", "content": question}])
            reply = answer.reply or "(the model ended its turn without a word)"
            return reply, passages_table(answer, assistant.threshold)
        except Exception as err:  # shown in the chat, never as a traceback
            return friendly_error(err), ""

    with gr.Blocks(title=title) as app:
        gr.Markdown(
            f"### {title}\nAsk about a product (kettle, toaster, blender, lamp, heater, speaker, camera, backpack: "
            "price, warranty, colour, weight, delivery) or a policy (returns, refunds, cancelling, shipping from)."
        )
        passages = gr.Markdown("The retrieved passages appear here.", elem_id="passages", render=False)
        with gr.Row():
            with gr.Column(scale=3):
                gr.ChatInterface(
                    respond,
                    api_name="chat",
                    examples=None,
                    chatbot=gr.Chatbot(height=230, elem_id="chatbot", label="chat with the assistant"),
                    additional_outputs=[passages],
                    textbox=gr.Textbox(
                        placeholder="type a question, e.g. how heavy is the kettle",
                        elem_id="message_box",
                        max_length=MAX_TEXT_CHARS,
                    ),
                )
            with gr.Column(scale=2):
                passages.render()
    app.respond = respond  # the callback, for plain unit tests
    return localize_app(app)
