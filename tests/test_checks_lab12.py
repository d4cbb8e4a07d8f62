"""Lab 12 checks: the right answers pass, each common mistake gets its own message."""

import pytest
import torch

from mmlab.checks import lab12
from mmlab.checks.framework import CheckFailed
from mmlab.models.vlm import IGNORE


def vlm_inputs(features, ids, projector, embedding, kind="right"):
    image, text = projector(features), embedding(ids)
    if kind == "text_first":
        return torch.cat([text, image], dim=1)
    if kind == "not_projected":
        return torch.cat([features, text], dim=1)
    if kind == "projected_twice":
        return torch.cat([image, projector(text)], dim=1)
    if kind == "axis":
        return torch.cat([image, text], dim=0)
    if kind == "detached":
        return torch.cat([image.detach(), text], dim=1)
    return torch.cat([image, text], dim=1)


def vlm_row(prompt, answer, max_len, pad_id, kind="right"):
    tokens = prompt + answer
    ids = torch.full((max_len,), pad_id, dtype=torch.long)
    n = len(tokens) if kind == "keep_last" else len(tokens) - 1
    ids[: min(n, max_len)] = torch.tensor(tokens[: min(n, max_len)])
    fill = 0 if kind == "zeros" else IGNORE
    targets = torch.full((max_len,), fill, dtype=torch.long)
    start = 0 if kind == "question" else len(prompt) - 1
    next_tokens = tokens[1:] if kind == "question" else answer
    if kind == "unshifted":
        start = len(prompt)
        next_tokens = answer[: max_len - start]
    targets[start : start + len(next_tokens)] = torch.tensor(next_tokens)
    if kind == "padding":
        targets[len(tokens) - 1 :] = pad_id
    return ids, targets


def test_right_answers_pass(capsys):
    assert lab12.check_vlm_inputs(vlm_inputs)
    assert lab12.check_vlm_row(vlm_row)
    assert capsys.readouterr().out.count("all") == 2


def test_reference_row_matches_the_chapters_rows():
    """The lab's reference is what chapter 12 trains on (build_vlm_examples), row for row."""
    from mmlab.models.vlm import VLMTokenizer, build_vlm_examples

    tok = VLMTokenizer(["what colour is the circle?", "red", "a small red circle"])
    rows = build_vlm_examples(
        {"images": torch.zeros(1, 3, 4, 4), "scene_ids": torch.tensor([0])},
        ["what colour is the circle?"],
        ["red"],
        ["a small red circle"],
        tok,
        max_len=10,
    )
    question = lab12.reference_vlm_row(
        tok.question_prompt("what colour is the circle?"), [*tok.encode("red"), tok.EOS], 10, tok.PAD
    )
    caption = lab12.reference_vlm_row(
        tok.caption_prompt(), [*tok.encode("a small red circle"), tok.EOS], 10, tok.PAD
    )
    for r, (ids, targets) in enumerate((question, caption)):
        assert torch.equal(rows["ids"][r], ids) and torch.equal(rows["targets"][r], targets)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("text_first", "the text before the image"),
        ("not_projected", "not passed through the projector"),
        ("projected_twice", "text embeddings passed through the projector"),
        ("axis", "wrong axis"),
        ("detached", "gradient must reach the projector"),
    ],
)
def test_input_mistakes_are_named(kind, message):
    with pytest.raises(CheckFailed, match=message):
        lab12.check_vlm_inputs(lambda f, i, p, e: vlm_inputs(f, i, p, e, kind))


@pytest.mark.parametrize(
    "kind, message",
    [
        ("unshifted", "targets at the input positions"),
        ("question", "targets on the question too"),
        ("padding", "targets on the padding"),
        ("zeros", "0 where the loss should not count"),
        ("keep_last", "keeps the last token"),
    ],
)
def test_row_mistakes_are_named(kind, message):
    with pytest.raises(CheckFailed, match=message):
        lab12.check_vlm_row(lambda p, a, n, pad: vlm_row(p, a, n, pad, kind))


def test_not_implemented_prints_one_line(capsys):
    def todo(*args):
        raise NotImplementedError

    assert not lab12.check_vlm_inputs(todo) and not lab12.check_vlm_row(todo)
    assert capsys.readouterr().out.count("not implemented yet") == 2
