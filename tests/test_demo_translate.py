"""The translation demo: input checks, decoding and the map, and the app through gradio_client."""

import pytest
import torch

from mmlab.data.translation import TranslationVocab, make_summaries, make_translation_data
from mmlab.demos.core import DemoInputError, show
from mmlab.demos.translate import Task, build_translate_demo, prepare_input, run_model
from mmlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from mmlab.seq2seq_training import translate


@pytest.fixture(scope="module")
def parts():
    data = make_translation_data(200, 10)
    summary_train, _ = make_summaries(50, 5)
    summary_vocab = TranslationVocab.from_texts(p.source + " " + p.target for p in summary_train)
    torch.manual_seed(0)
    model = Seq2Seq(
        Seq2SeqConfig(vocab_size=data.vocab.vocab_size, d_model=16, n_heads=2, d_ff=32, max_len=12)
    )
    summariser = Seq2Seq(
        Seq2SeqConfig(vocab_size=summary_vocab.vocab_size, d_model=16, n_heads=2, max_len=48)
    )
    english = {w for p in data.train for w in p.source.split()}
    summary_words = {w for p in summary_train for w in p.source.split()}
    return data, model.eval(), english, (summariser.eval(), summary_vocab, summary_words), summary_train


@pytest.fixture(scope="module")
def app(parts):
    data, model, english, summariser, _ = parts
    return build_translate_demo(model, data.vocab, english, summariser=summariser)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The sentence is empty"),
        ("   ", "The sentence is empty"),
        (None, "The sentence is empty"),
        ("the red ball " * 6, "this model reads at most 12"),
        ("x" * 3000, "takes at most 2,000"),
        ("le chat rouge est sur la table", "This looks like French"),
        ("the red ball is on the sofa", "never saw these words: sofa"),
        ("红色的球在桌子上", "This is not English"),
    ],
)
def test_bad_inputs_give_clear_messages(app, text, message):
    output, image, shown = app.run(text, "translate", 1)
    assert output == "" and image is None and message in shown and "Traceback" not in shown


@pytest.mark.parametrize("beams", [0, 9, 2.5, "many", None, float("nan")])
def test_bad_beam_sizes_give_clear_messages(app, beams):
    output, image, shown = app.run("the red ball is on the table", "translate", beams)
    assert output == "" and "Beam size must be a whole number from 1 to 8" in shown


def test_input_is_normalised(parts):
    data, model, english, _, _ = parts
    task = Task(model, data.vocab, english, "the red ball is on the table")
    assert prepare_input("The RED ball is on the table.", task) == "the red ball is on the table"


def test_translation_and_map_match_the_model(parts, app):
    data, model, english, _, _ = parts
    text = "the small red ball is on the table"
    task = Task(model, data.vocab, english, text)
    output, source, written, weights = run_model(task, text, 2)
    assert output == translate(model, data.vocab, [text], num_beams=2, max_new_tokens=11)[0]
    assert weights.shape == (len(written), len(source)) and torch.allclose(
        weights.sum(-1), torch.ones(len(written))
    )
    shown_output, image, message = app.run(text, "translate", 2)
    assert shown_output == output and image.size[0] > 100 and "beam search with 2 beams" in message


def test_summary_mode(parts, app):
    summary_train = parts[4]
    paragraph = summary_train[0].source
    output, image, message = app.run(paragraph, "summarise", 1)
    assert image is not None and "greedy decoding" in message
    assert message.startswith(f"summarise: {len(paragraph.split())} words in")
    assert "Mode must be one of" in app.run("the red ball", "poem", 1)[2]


def test_through_gradio_client(parts):
    from gradio_client import Client

    data, model, english, summariser, _ = parts
    app = build_translate_demo(model, data.vocab, english, summariser=summariser)
    with show(app, inline=False) as handle:
        client = Client(handle.url, verbose=False)
        assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/run"]
        text = "the small red ball is on the table"
        output, image, message = client.predict(text, "translate", 1, api_name="/run")
        assert output == translate(model, data.vocab, [text], max_new_tokens=11)[0]
        assert image is not None and "greedy decoding" in message
        for args, expected in [
            (("", "translate", 1), "The sentence is empty"),
            (("la balle rouge est sur la table", "translate", 1), "This looks like French"),
            (("the red ball is on the moon", "translate", 1), "never saw these words: moon"),
            ((text, "translate", 50), "Beam size must be"),
        ]:
            output, image, message = client.predict(*args, api_name="/run")
            assert output == "" and image is None and expected in message


def test_build_rejects_a_model_that_is_not_seq2seq(parts):
    with pytest.raises(TypeError, match="Seq2Seq"):
        build_translate_demo(torch.nn.Linear(2, 2), parts[0].vocab, set())
    with pytest.raises(DemoInputError):
        prepare_input("", Task(parts[1], parts[0].vocab, set(), "x"))
