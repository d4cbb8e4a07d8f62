"""Chapter 13's recipes: jobs, translation helpers, alignment and baselines."""

import torch

from mmlab.data.translation import make_summaries, make_translation_data, summary_pair, translate_rule
from mmlab.decoding import GPTState, generate
from mmlab.models.gpt import GPT
from mmlab.models.seq2seq import Seq2Seq
from mmlab.recipes.registry import build_job, resolve_settings
from mmlab.seq2seq_training import (
    alignment_rate,
    evaluate_translation,
    lead_and_random_summaries,
    output_log_probs,
    train_model,
    translate,
    translate_decoder_only,
)


def test_rules_reorder_agree_and_spell_numbers():
    pair = translate_rule(97, "small", "green", "box", "under the bed")
    assert pair.source == "ninety seven small green boxes are under the bed"
    assert pair.target == "quatre vingt dix sept petites boîtes vertes sont sous le lit"
    assert pair.alignment == ((4, 2), (5, 4), (6, 3))
    assert translate_rule(1, None, "white", "cat", "on the table").target == "le chat blanc est sur la table"


def test_summaries_select_and_compress():
    pair = summary_pair(
        [
            (None, "red", "cat", "on the table"),
            ("big", "blue", "cup", "in the garden"),
            (None, "green", "book", "on the table"),
        ]
    )
    assert pair.target == "the cat and the book are on the table"
    train, test = make_summaries(30, 10)
    lead, rand = lead_and_random_summaries(test, seed=0)
    assert all(len(r.split()) == len(p.target.split()) for r, p in zip(rand, test))
    assert all(p.source.startswith(lead_sentence) for lead_sentence, p in zip(lead, test))


def test_jobs_build_both_architectures():
    settings = resolve_settings("translate", "cpu")
    assert settings["batch_size"] == 64 and resolve_settings("translate", "gpu")["d_model"] == 256
    assert isinstance(build_job("translate", overrides={"n_train": 50, "n_test": 10}).model, Seq2Seq)
    job = build_job("translate", overrides={"n_train": 50, "n_test": 10, "arch": "gpt"})
    assert isinstance(job.model, GPT) and job.model.num_parameters() >= 49_000


def test_trained_translator_helpers_agree():
    data = make_translation_data(300, 20)
    model, history, _ = train_model("translate", seed=0, n_train=300, n_test=20, max_steps=30)
    sources = [p.source for p in data.test]
    greedy = translate(model, data.vocab, sources)
    assert translate(model, data.vocab, sources, num_beams=1) == greedy
    beams = translate(model, data.vocab, sources, num_beams=3)
    lp_greedy = sum(output_log_probs(model, data.vocab, sources, greedy, length_penalty=1.0))
    assert sum(output_log_probs(model, data.vocab, sources, beams, length_penalty=1.0)) >= lp_greedy - 1e-4
    metrics = evaluate_translation(greedy, data.test)
    assert set(metrics) == {"bleu", "chrf", "exact"} and 0 <= metrics["bleu"] <= 100
    rates = alignment_rate(model, data.vocab, data.test)
    assert len(rates) == 2 and all(0 <= r <= 1 for r in rates)


def test_decoder_only_batches_by_length_like_one_at_a_time():
    data = make_translation_data(100, 12)
    gpt = build_job("translate", overrides={"n_train": 100, "n_test": 12, "arch": "gpt"}).model.eval()
    sources = [p.source for p in data.test]
    batched = translate_decoder_only(gpt, data.vocab, sources, max_new_tokens=6)
    for source, out in zip(sources, batched):
        prompt = torch.tensor([data.vocab.encode(source) + [data.vocab.sep_id]])
        alone = generate(GPTState(gpt, prompt), prompt[:, -1], data.vocab.eos_id, 6)[0]
        assert out == data.vocab.decode(alone)
