"""SFT: the assistant-only mask and loss, checked against transformers' GPT-2 loss; the pipeline."""

import pytest
import torch

from mmlab.align.instruction_tuning import SFTSettings, train_sft_model
from mmlab.align.sft import (
    LengthBuckets,
    assistant_loss_mask,
    encode_conversations,
    exact_match,
    generate_replies,
    masked_token_loss,
    prompt_text,
    sft_loss,
)
from mmlab.data.chat import ASSISTANT, PAD, USER, Instruction, chat_tokenizer
from mmlab.models.gpt import GPT, GPTConfig, export_to_gpt2

CHATS = [
    Instruction("colour", "what colour is grass", "green").messages("sure green thanks", system="be brief"),
    Instruction("reverse", "reverse cat dog", "dog cat").messages("dog cat"),
]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    tok = chat_tokenizer()
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=24, n_layer=2, n_head=2, n_embd=32)), tok


def test_mask_is_true_on_assistant_tokens_only(tiny):
    _, tok = tiny
    ids, roles = encode_conversations(CHATS, tok, 24)
    mask = assistant_loss_mask(roles)
    assert mask.dtype == torch.bool and mask.shape == ids.shape
    assert tok.decode(ids[1][mask[1]]) == "dog cat\n"
    assert not mask[roles == PAD].any() and (ids[roles == PAD] == tok.pad_id).all()


def test_sft_loss_equals_transformers_gpt2_with_ignored_labels(tiny, tmp_path):
    model, tok = tiny
    ids, roles = encode_conversations(CHATS, tok, 24)
    loss, metrics = sft_loss(model, (ids, roles))
    hf = export_to_gpt2(model, tmp_path)
    labels = ids.masked_fill(~assistant_loss_mask(roles), -100)  # transformers' "ignore this position"
    with torch.no_grad():
        reference = hf(input_ids=ids, labels=labels).loss
    torch.testing.assert_close(loss, reference, atol=1e-5, rtol=1e-5)
    assert 0 <= float(metrics["accuracy"]) <= 1


def test_changing_a_user_token_label_changes_nothing(tiny):
    model, tok = tiny
    ids, roles = encode_conversations(CHATS, tok, 24)
    loss, _ = sft_loss(model, (ids, roles))
    logits, targets, mask = model(ids[:, :-1]), ids[:, 1:].clone(), assistant_loss_mask(roles[:, 1:])
    torch.testing.assert_close(masked_token_loss(logits, targets, mask), loss)
    for b, t in (roles[:, 1:] == USER).nonzero().tolist():  # every user label, one at a time
        edited = targets.clone()
        edited[b, t] = (edited[b, t] + 1) % tok.vocab_size
        torch.testing.assert_close(masked_token_loss(logits, edited, mask), loss, atol=0, rtol=0)
    b, t = (roles[:, 1:] == ASSISTANT).nonzero()[0].tolist()
    edited = targets.clone()
    edited[b, t] = (edited[b, t] + 1) % tok.vocab_size
    assert not torch.allclose(masked_token_loss(logits, edited, mask), loss)  # an assistant label does


def test_too_long_and_empty_batches_are_refused(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="the model takes 6 at most"):
        encode_conversations(CHATS, tok, 5)
    ids, roles = encode_conversations(CHATS, tok, 24)
    with pytest.raises(ValueError, match="no assistant tokens"):
        sft_loss(model, (ids, roles.masked_fill(roles == ASSISTANT, USER)))


def test_length_buckets_pad_to_their_own_width():
    lengths = torch.tensor([3, 9, 4, 8])
    ids = torch.arange(40).reshape(4, 10)
    loader = LengthBuckets((ids,), lengths, batch_size=2, seed=0)
    widths = sorted(batch[0].shape[1] for batch in loader)
    assert len(loader) == 2 and widths == [4, 9]


def test_pipeline_learns_the_answers():
    result = train_sft_model(seed=0, settings=SFTSettings(pretrain_steps=20, max_steps=150))
    first_loss = result.history.train[0]["loss"]
    assert result.history.last("loss", "train") < 0.7 * first_loss
    items = [i for i in result.instructions["train"] if i.task == "rate"][:40]
    after = exact_match(result.model, result.tokenizer, items)
    assert after >= exact_match(result.pretrained, result.tokenizer, items) + 0.3
    replies = generate_replies(result.model, result.tokenizer, [prompt_text(i.prompt) for i in items[:3]])
    assert all(isinstance(r, str) and "\n" not in r for r in replies)
    again = train_sft_model(seed=0, settings=SFTSettings(pretrain_steps=20, max_steps=150))
    assert again.model is not result.model  # cached, but callers get their own copy
    for a, b in zip(again.model.parameters(), result.model.parameters()):
        assert torch.equal(a, b)


def test_pretraining_loader_gathers_whole_batches_without_a_row_loop(monkeypatch):
    """The gpu preset's pretraining batches (256 rows) come from one gather each: no per-row
    ``__getitem__`` and collate in the hot loop (that Python loop cost as much as a GPU step), and the
    batches are the plain per-row DataLoader's, in the same order, over two epochs."""
    from torch.utils.data import DataLoader

    from mmlab.align.sft import WindowBatches, world_corpus, world_corpus_loader
    from mmlab.data.chat import make_instructions
    from mmlab.data.lm import NextTokenDataset
    from mmlab.recipes.registry import resolve_settings

    batch_size = resolve_settings("sft", "gpu").batch_size
    tok, instructions = chat_tokenizer(), make_instructions(seed=0)
    ids = tok.encode(world_corpus(instructions["train"], seed=0))
    plain = DataLoader(
        NextTokenDataset(ids, 16, stride=3),
        batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    expected = [batch for _ in range(2) for batch in plain]

    rows_read = []
    original = NextTokenDataset.__getitem__
    monkeypatch.setattr(
        WindowBatches, "__getitem__", lambda self, i: rows_read.append(i) or original(self, i)
    )
    loader = world_corpus_loader(tok, instructions, batch_size, seed=0)
    got = [batch for _ in range(2) for batch in loader]
    assert rows_read == []  # whole batches only
    assert len(got) == len(expected) and got[0][0].shape == (batch_size, 16)
    for (x, y), (x_ref, y_ref) in zip(got, expected):
        assert torch.equal(x, x_ref) and torch.equal(y, y_ref)


def test_the_sft_job_names_its_two_stages_before_their_progress_bars(capsys):
    from mmlab.align.instruction_tuning import build
    from mmlab.recipes.registry import resolve_settings

    tiny = dict(
        n_layers=1, n_heads=2, d_model=16, batch_size=8, n_conversations=300, pretrain_steps=3, max_steps=7
    )
    build(resolve_settings("sft", "gpu", {**tiny, "device": "cpu", "progress": True}))
    assert "sft: 3 pretraining steps on the world corpus" in capsys.readouterr().out
    build(resolve_settings("sft", "gpu", {**tiny, "device": "cpu", "progress": False}))
    assert capsys.readouterr().out == ""
