"""Chapter 15's pieces around the generators: caption+code rows for the GPT, code sampling, the judge's
faithfulness score, CLIP re-ranking and diversity, and the ``imagegen`` recipe end to end at toy size."""

import torch

from mmlab.data.multimodal.placed import make_placed_shapes
from mmlab.imagegen import (
    CAPTION_LEN,
    CodeTokens,
    Judge,
    build_caption_clip,
    clip_score,
    code_gpt,
    code_gpt_loss,
    diversity,
    faithfulness,
    rerank,
    sample_codes,
)


def tokens(k=8):
    return CodeTokens(build_caption_clip().text_encoder.tokenizer, k)


def test_rows_put_codes_after_the_words():
    tok = tokens()
    codes = torch.tensor([[[0, 7], [3, 1]]])
    rows = tok.rows(["a red circle top left"], codes)
    assert rows.shape == (1, CAPTION_LEN + 4)
    assert rows[0, :CAPTION_LEN].max() < tok.n_words and 1 not in rows[0, :CAPTION_LEN].tolist()  # no <unk>
    assert (rows[0, CAPTION_LEN:] - tok.n_words).tolist() == [0, 7, 3, 1]


def test_code_loss_scores_only_the_codes():
    torch.manual_seed(0)
    tok = tokens()
    gpt = code_gpt(tok, 4, n_layer=1, n_head=2, n_embd=16)
    rows = tok.rows(["a red circle top left", "a blue square bottom right"], torch.randint(0, 8, (2, 2, 2)))
    loss, _ = code_gpt_loss(gpt, {"rows": rows})
    logits = gpt(rows[:, :-1])
    manual = torch.nn.functional.cross_entropy(
        logits[:, CAPTION_LEN - 1 :].reshape(-1, tok.vocab_size), rows[:, CAPTION_LEN:].reshape(-1)
    )
    torch.testing.assert_close(loss, manual)
    changed = rows.clone()
    changed[:, 0] = changed[:, 1]  # the first word is never a target, only context
    assert code_gpt_loss(gpt, {"rows": changed})[0].item() != loss.item()


def test_sampled_codes_are_codes_and_match_the_model():
    torch.manual_seed(0)
    tok = tokens()
    gpt = code_gpt(tok, 4, n_layer=1, n_head=2, n_embd=16)
    codes = sample_codes(
        gpt, tok, ["a red circle top left"] * 5, 4, generator=torch.Generator().manual_seed(0)
    )
    assert codes.shape == (5, 4) and codes.min() >= 0 and codes.max() < 8
    greedy = sample_codes(gpt, tok, ["a red circle top left"], 4, temperature=1e-9)
    row = tok.tokenizer.encode(["a red circle top left"])
    for code in greedy[0]:  # greedy = the argmax over codes of a full forward pass, step by step
        expected = gpt(row)[0, -1, tok.n_words :].argmax()
        assert code == expected
        row = torch.cat([row, (code + tok.n_words).view(1, 1)], dim=1)


def test_faithfulness_counts_all_three_attributes():
    data = make_placed_shapes(30, seed=0)
    labels = {k: data[k] for k in ("colours", "kinds", "places")}

    class Oracle(Judge):  # reads the labels it is given, with the colour wrong for the first 10
        def read(self, images):
            out = {k: v.clone() for k, v in labels.items()}
            out["colours"][:10] = (out["colours"][:10] + 1) % 3
            return out

    score = faithfulness(Oracle(), data["images"], labels)
    assert score["kinds"] == score["places"] == 1.0
    assert abs(score["colours"] - 20 / 30) < 1e-6 and abs(score["all"] - 20 / 30) < 1e-6


def test_clip_helpers():
    torch.manual_seed(0)
    clip = build_caption_clip()
    data = make_placed_shapes(6, seed=0)
    scores = clip_score(clip, data["images"], data["captions"])
    assert scores.shape == (6,) and scores.abs().max() <= 1 + 1e-5
    best = rerank(clip, data["images"], data["captions"][0], keep=2)
    all_scores = clip_score(clip, data["images"], [data["captions"][0]] * 6)
    torch.testing.assert_close(best, data["images"][all_scores.topk(2).indices])
    same = data["images"][:1].expand(4, -1, -1, -1)
    assert diversity(same) == 0.0 and diversity(data["images"]) > 0


def test_recipe_runs_end_to_end_at_toy_size(tmp_path):
    """Every stage of the ``imagegen`` recipe runs and measures (the numbers themselves are chapter 15's)."""
    from mmlab.recipes.imagegen import ImageGenSettings, generate_images, run_imagegen

    tiny = dict(n_train=64, n_judge=64, batch_size=16, vq_channels=(8, 16), codebook_size=8, code_dim=4)
    steps = dict(judge_steps=2, clip_steps=2, vq_steps=2, gpt_steps=2, diffusion_steps=2)
    settings = ImageGenSettings(
        **tiny, **steps, d_model=16, gpt_layers=1, gpt_heads=2, unet_width=8, progress=False
    )
    models, metrics = run_imagegen(settings)
    methods = ("real", "gpt", "ddim", "random")
    assert set(metrics) == {f"{m}_{split}" for m in methods for split in ("seen", "unseen")}
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    for method in ("gpt", "ddpm"):
        images = (
            generate_images(models, ["a red circle top left"] * 2, method, num_steps=3)
            if method == "ddpm"
            else (generate_images(models, ["a red circle top left"] * 2, method))
        )
        assert images.shape == (2, 3, 16, 16) and images.abs().max() <= 1
    from mmlab.train.runs import save_run

    save_run(models, tmp_path, "imagegen", "cpu", {}, metrics)  # what python -m mmlab.train writes
    assert (tmp_path / "model.safetensors").stat().st_size > 0
