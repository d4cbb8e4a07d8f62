"""The course's demo conventions: local launch, no share link, no analytics, handles that close."""

import httpx
import pytest

import mmlab.demos
from mmlab.demos.core import (
    DemoHandle,
    DemoInputError,
    close_all,
    free_port,
    friendly_error,
    in_notebook,
    show,
)


def tiny_app():
    import gradio as gr

    with gr.Blocks() as app:
        box = gr.Textbox(elem_id="box")
        out = gr.Textbox()
        box.submit(lambda s: s.upper(), box, out, api_name="upper")
    return app


def is_up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_lazy_registry_exposes_show_and_close_all():
    assert mmlab.demos.show is show and mmlab.demos.close_all is close_all


def test_analytics_are_off():
    import gradio.analytics

    assert not gradio.analytics.analytics_enabled()


def test_show_launches_on_loopback_without_share_and_closes():
    app = tiny_app()
    handle = show(app, inline=False)
    try:
        assert isinstance(handle, DemoHandle) and handle.running
        assert handle.url.startswith("http://127.0.0.1:")
        assert app.share is False and app.share_url is None
        assert is_up(handle.url)
    finally:
        handle.close()
    assert not handle.running and not is_up(handle.url)
    handle.close()  # closing twice is harmless


def test_show_twice_replaces_the_old_demo():
    first_app, second_app = tiny_app(), tiny_app()
    first = show(first_app, inline=False)
    second = show(second_app, inline=False)
    try:
        assert not first.running and not is_up(first.url)
        assert second.running and is_up(second.url)
        again = show(second_app, inline=False)  # the same app again: relaunched, old handle outdated
        assert again.running and not second.running
        second.close()  # an outdated handle does not stop the newer launch
        assert again.running and is_up(again.url)
    finally:
        close_all()
    assert not again.running


def test_show_as_context_manager_and_fixed_port():
    port = free_port()
    with show(tiny_app(), port=port, inline=False) as handle:
        assert handle.url == f"http://127.0.0.1:{port}/" and is_up(handle.url)
    assert not handle.running


def test_show_rejects_non_apps():
    with pytest.raises(TypeError, match="Blocks"):
        show(lambda: None)


def test_friendly_errors_never_show_a_traceback():
    assert friendly_error(DemoInputError("Type some text first.")) == "⚠️ Type some text first."
    message = friendly_error(RuntimeError("shape mismatch"))
    assert message.startswith("⚠️ The model could not handle this input")
    assert "RuntimeError" not in message and "shape mismatch" not in message and "Traceback" not in message


def test_not_in_a_notebook_under_pytest():
    assert in_notebook() is False
