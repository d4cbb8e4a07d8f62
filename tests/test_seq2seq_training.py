"""Chapter 13's recipes: jobs, translation helpers, alignment and baselines."""

from collections import Counter

import pytest
import torch

from mmlab.data.translation import (
    CHINESE_COLOURS,
    CHINESE_NOUNS,
    CHINESE_SIZES,
    NOUNS,
    make_summaries,
    make_translation_data,
    named_objects,
    summary_pair,
    translate_rule,
    translate_rule_zh,
)
from mmlab.decoding import GPTState, generate
from mmlab.models.gpt import GPT
from mmlab.models.seq2seq import Seq2Seq
from mmlab.recipes.registry import build_job, resolve_settings
from mmlab.recipes.seq2seq import summary_data
from mmlab.seq2seq_training import (
    alignment_rate,
    evaluate_translation,
    objects_right,
    output_log_probs,
    summary_baselines,
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


def test_chinese_puts_the_place_first_and_counts_with_measure_words():
    pair = translate_rule_zh(2, "small", "red", "cat", "on the table")
    assert pair.source == "two small red cats are on the table"
    assert pair.target == "桌子 上 有 两 只 小 红 猫"  # "on the table there are two (animal) small red cat"
    assert pair.alignment == ((5, 1), (6, 2), (7, 3))
    assert translate_rule_zh(1, None, "white", "book", "behind the door").target == "门 后 有 一 本 白 书"
    assert (
        translate_rule_zh(22, None, "blue", "car", "in the garden").target == "花园 里 有 二 十 二 辆 蓝 车"
    )
    chinese = {**CHINESE_COLOURS, **CHINESE_SIZES}
    for noun, (word, _) in CHINESE_NOUNS.items():
        chinese[noun] = chinese[NOUNS[noun][0]] = word
    data = make_translation_data(300, 30, lang="zh")
    assert [p.source for p in data.train] == [p.source for p in make_translation_data(300, 30).train]
    for p in data.train + data.test + data.held_out:
        source, target = p.source.split(), p.target.split()
        assert not data.vocab.unknown(p.target) and len(p.alignment) in (2, 3)
        assert all(chinese[source[s]] == target[t] for t, s in p.alignment)
    with pytest.raises(ValueError, match="lang"):
        make_translation_data(10, 2, lang="de")


def test_summaries_select_and_compress():
    pair = summary_pair(
        [
            (None, "red", "cat", "on the table"),
            ("big", "blue", "cup", "in the garden"),
            (None, "green", "book", "on the table"),
        ]
    )
    assert pair.target == "the cat and the book are on the table"
    assert named_objects(pair.target) == ["cat", "book"] and named_objects("two red balls and a cup") == [
        "ball",
        "cup",
    ]
    train, test = make_summaries(30, 10)
    baselines = summary_baselines(test, seed=0)
    assert all(len(r.split()) == len(p.target.split()) for r, p in zip(baselines["random words"], test))
    assert all(p.source.startswith(lead) for lead, p in zip(baselines["lead sentence"], test))
    first_two = baselines["first two objects"]
    assert [named_objects(h) for h in first_two] == [named_objects(p.source)[:2] for p in test]


def test_summary_content_comes_from_the_paragraph():
    """No fixed sentence can be right: which objects to name is read from the paragraph, the held-out
    pairs never occur in training, and the table's objects are not always the first two."""
    train, test = make_summaries(2000, 200)
    for pairs in (train, test):
        assert all(len(p.source.split(" . ")) == 3 for p in pairs)
        for p in pairs:  # the summary names the objects of the "on the table" sentences, in order
            sentences = p.source.rstrip(" .").split(" . ")
            on_table = [named_objects(s)[0] for s in sentences if s.endswith("on the table")]
            assert named_objects(p.target) == on_table
        most_common = Counter(tuple(named_objects(p.target)) for p in pairs).most_common(1)[0][1]
        assert most_common / len(pairs) < 0.25  # the best fixed summary is right for under a quarter
    assert not {tuple(named_objects(p.target)) for p in train} & {
        tuple(named_objects(p.target)) for p in test
    }
    assert 0.2 < objects_right(summary_baselines(test)["first two objects"], test) < 0.5
    assert objects_right([p.target for p in test], test) == 1.0


def test_short_trained_summariser_reads_its_input():
    """A summariser that ignores the paragraph writes one sentence for all of them (what GPT-2's
    0.02 init did to the 32-wide model): after a short run, different paragraphs already get
    different summaries."""
    _, test, vocab = summary_data(resolve_settings("summarise", "cpu", {"n_train": 1000, "n_test": 50}))
    model, _, _ = train_model("summarise", seed=0, n_train=1000, n_test=50, max_steps=60, progress=False)
    summaries = translate(model, vocab, [p.source for p in test], max_new_tokens=12)
    assert len(set(summaries)) >= 5


def test_jobs_build_both_architectures():
    settings = resolve_settings("translate", "cpu")
    assert settings["batch_size"] == 64 and resolve_settings("translate", "gpu")["d_model"] == 256
    assert isinstance(build_job("translate", overrides={"n_train": 50, "n_test": 10}).model, Seq2Seq)
    job = build_job("translate", overrides={"n_train": 50, "n_test": 10, "arch": "gpt"})
    assert isinstance(job.model, GPT) and job.model.num_parameters() >= 49_000
    chinese = build_job("translate", overrides={"n_train": 50, "n_test": 10, "lang": "zh"}).model
    vocab = make_translation_data(50, 10, lang="zh").vocab
    assert chinese.config.vocab_size == vocab.vocab_size != make_translation_data(50, 10).vocab.vocab_size


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
