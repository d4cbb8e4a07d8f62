"""The mini-VLM: prefix + text through the GPT, loss masking, stages, and the mapping onto transformers' LLaVA."""

import pytest
import torch

from mmlab.models.gpt import GPTConfig
from mmlab.models.vision import CNNConfig
from mmlab.models.vlm import IGNORE, MiniVLM, VLMConfig, VLMTokenizer, build_vlm_examples, set_stage, vlm_loss

TEXTS = ["what colour is the circle?", "red", "a small red circle, a large blue square"]


@pytest.fixture
def model():
    torch.manual_seed(0)
    tok = VLMTokenizer(TEXTS)
    config = VLMConfig(
        image=CNNConfig(image_size=24, channels=(8, 16), strides=(2, 4)),
        gpt=GPTConfig(vocab_size=len(tok), block_size=32, n_layer=1, n_head=2, n_embd=16),
    )
    return MiniVLM(config, tok)


def test_shapes_and_text_only(model):
    images, ids = torch.rand(2, 3, 24, 24), torch.randint(0, len(model.tokenizer), (2, 7))
    assert model(images, ids).shape == (2, 7, len(model.tokenizer))
    assert model(None, ids).shape == (2, 7, len(model.tokenizer))
    # the image changes the text's logits; the text never changes the image tokens (causal)
    assert not torch.allclose(model(images, ids), model(torch.rand(2, 3, 24, 24), ids))


def test_examples_mask_everything_but_the_answer(model):
    tok = model.tokenizer
    tensors = {"images": torch.rand(2, 3, 24, 24), "scene_ids": torch.tensor([0, 0])}
    ex = build_vlm_examples(tensors, [TEXTS[0]] * 2, ["red"] * 2, [TEXTS[2]] * 2, tok, max_len=16)
    assert ex["ids"].shape == (3, 16) and ex["kind"].tolist() == [0, 0, 1]  # one caption per scene
    row = ex["targets"][0]
    learned = row[row != IGNORE].tolist()
    assert learned == [tok.stoi["red"], tok.EOS]
    # the target of the <answer> position is the answer
    answer_pos = ex["ids"][0].tolist().index(tok.ANSWER)
    assert row[answer_pos].item() == tok.stoi["red"]
    loss, metrics = vlm_loss(model, ex)
    assert loss.dim() == 0 and 0 <= metrics["accuracy"] <= 1


def test_stages_freeze_the_right_parts(model):
    counts = set_stage(model, "align")
    assert counts["projector"] > 0 and counts["gpt"] == counts["image_encoder"] == 0
    counts = set_stage(model, "tune")
    assert counts["gpt"] > 0 and counts["image_encoder"] == 0
    with pytest.raises(ValueError, match="stage must be"):
        set_stage(model, "everything")


def test_generate_answer_and_caption_return_text(model):
    image = torch.rand(3, 24, 24)
    assert isinstance(model.answer(image, "what colour is the circle?"), str)
    assert isinstance(model.caption(image), str)
    out = model.generate(torch.rand(2, 3, 24, 24), [[2, 3], [4]], max_new_tokens=3)
    assert len(out) == 2 and all(1 <= len(o) <= 3 for o in out)


def test_maps_onto_transformers_llava(model):
    """Our projector + GPT equal LLaVA's multi_modal_projector + language_model + lm_head (to 1e-5)."""
    llava = pytest.importorskip("mmlab.models.vlm").to_llava(model)
    images, ids = torch.rand(2, 3, 24, 24), torch.randint(0, len(model.tokenizer), (2, 6))
    features = model.image_encoder.tokens(images)  # (B, P, d_v)
    with torch.no_grad():
        prefix = llava.model.multi_modal_projector(features)
        embeds = torch.cat([prefix, llava.model.language_model.get_input_embeddings()(ids)], dim=1)
        hidden = llava.model.language_model(inputs_embeds=embeds).last_hidden_state
        theirs = llava.lm_head(hidden)[:, prefix.size(1) :]
        ours = model(images, ids)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


def test_features_pass_through_and_text_only_blanks_the_image(model):
    images, ids = torch.rand(2, 3, 24, 24), torch.randint(0, len(model.tokenizer), (2, 5))
    features = model.image_features(images)  # (B, P, d_v), computed once for a frozen encoder
    assert features.shape == (2, model.config.n_prefix, model.image_encoder.d_tokens)
    torch.testing.assert_close(model(features, ids), model(images, ids))
    # text-only = the same model with zero image tokens: the text keeps its positions
    blank = torch.zeros(2, model.config.n_prefix, model.config.gpt.n_embd)
    x = torch.cat([blank, model.gpt.tok_emb(ids)], dim=1)
    expected = model.gpt.lm_head(model.gpt.transformer(x)[:, model.config.n_prefix :])
    torch.testing.assert_close(model(None, ids), expected)
    with pytest.raises(ValueError, match="image features should be"):
        model(torch.rand(2, 3, 5), ids)


def test_region_labels_and_the_region_namer(model):
    from mmlab.data.multimodal import region_targets
    from mmlab.models.regions import RegionEncoder, region_loss
    from mmlab.models.vlm import encode_images

    gpt = GPTConfig(vocab_size=len(model.tokenizer), block_size=16, n_layer=1, n_head=2, n_embd=16)
    model = MiniVLM(VLMConfig(gpt=gpt), model.tokenizer)  # the default encoder: a 2 x 2 grid of cells

    scene = [
        {"kind": "square", "colour": "blue", "size": "large", "x": 18.0, "y": 6.0},  # top right
        {"kind": "circle", "colour": "red", "size": "small", "x": 6.0, "y": 18.0},  # bottom left
    ]
    labels = region_targets([scene], image_size=24, sizes=True)
    assert labels["region_kinds"].tolist() == [[0, 2, 1, 0]]
    assert labels["region_colours"].tolist() == [[0, 3, 1, 0]]
    assert labels["region_sizes"].tolist() == [[0, 2, 1, 0]]
    namer = RegionEncoder(model.image_encoder, sizes=True)
    batch = {"images": torch.rand(1, 3, 24, 24), **labels}
    loss, metrics = region_loss(namer, batch)
    logits = namer.name_regions(batch["images"])
    expected = sum(
        torch.nn.functional.cross_entropy(logits[k][0], labels[k][0])
        for k in ("region_kinds", "region_colours", "region_sizes")
    )
    torch.testing.assert_close(loss, expected)
    assert 0 <= float(metrics["accuracy"]) <= 1
    torch.testing.assert_close(
        encode_images(model, batch["images"]), model.image_encoder.tokens(batch["images"])
    )


def test_answer_accuracy_is_the_first_greedy_word(model):
    from mmlab.models.vlm import answer_accuracy

    images = torch.rand(3, 3, 24, 24)
    questions = [TEXTS[0]] * 3
    greedy = [model.answer(images[i], questions[i]).split(" ")[0] for i in range(3)]
    assert answer_accuracy(model, images, questions, greedy) == 1.0
    assert answer_accuracy(model, images, questions, ["<pad>"] * 3) == 0.0


def test_align_trains_the_projector_only(model):
    """Stage 1: only projector parameters are trainable, and a training step leaves the GPT unchanged."""
    from mmlab.data.multimodal import TensorLoader
    from mmlab.train.trainer import TrainConfig, Trainer

    set_stage(model, "align")
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith("projector.") for name in trainable)
    tok = model.tokenizer
    tensors = {"images": torch.rand(4, 3, 24, 24), "scene_ids": torch.arange(4)}
    rows = build_vlm_examples(tensors, [TEXTS[0]] * 4, ["red"] * 4, [TEXTS[2]] * 4, tok, max_len=16)
    gpt_before = {k: v.clone() for k, v in model.gpt.state_dict().items()}
    encoder_before = {k: v.clone() for k, v in model.image_encoder.state_dict().items()}
    projector_before = model.projector.linear_1.weight.clone()
    Trainer(
        model, vlm_loss, TensorLoader(rows, 4), None, TrainConfig(max_steps=2, lr=1e-2, progress=False)
    ).fit()
    for k, v in model.gpt.state_dict().items():
        torch.testing.assert_close(v, gpt_before[k], rtol=0, atol=0)
    for k, v in model.image_encoder.state_dict().items():
        if k.endswith("weight") or k.endswith("bias"):  # BatchNorm running statistics may move
            torch.testing.assert_close(v, encoder_before[k], rtol=0, atol=0)
    assert not torch.equal(model.projector.linear_1.weight, projector_before)


def test_scene_words_name_each_cell():
    from mmlab.models.vlm import scene_words

    tok = VLMTokenizer(TEXTS)
    assert tok.cell_words()[0] == "<small-red-circle>" and tok.cell_words()[-1] == "<empty>"
    scene = [
        {"kind": "square", "colour": "blue", "size": "large", "x": 18.0, "y": 6.0},  # top right
        {"kind": "circle", "colour": "red", "size": "small", "x": 6.0, "y": 18.0},  # bottom left
    ]
    words = scene_words([scene], tok, image_size=24)
    assert words.shape == (1, 4, 1)
    assert [tok.itos[i] for i in words[0, :, 0].tolist()] == [
        "<empty>",
        "<large-blue-square>",
        "<small-red-circle>",
        "<empty>",
    ]


def test_word_prefix_is_the_mean_word_embedding(model):
    from mmlab.models.vlm import scene_words_loss

    ids = torch.randint(0, len(model.tokenizer), (2, 5))
    words = torch.randint(0, len(model.tokenizer), (2, model.config.n_prefix, 3))
    prefix = model.gpt.tok_emb(words).mean(dim=2)  # (B, P, C)
    x = torch.cat([prefix, model.gpt.tok_emb(ids)], dim=1)
    expected = model.gpt.lm_head(model.gpt.transformer(x)[:, model.config.n_prefix :])
    torch.testing.assert_close(model(None, ids, words=words), expected)
    with pytest.raises(ValueError, match="words should be token ids"):
        model(None, ids, words=words[:, :2])
    with pytest.raises(ValueError, match="images or words"):
        model(torch.rand(2, 3, 24, 24), ids, words=words)
    batch = {"ids": ids, "words": words, "targets": ids}
    loss, metrics = scene_words_loss(model, batch)
    assert loss.dim() == 0 and 0 <= float(metrics["accuracy"]) <= 1


def test_nearest_word_match_counts_cells_that_read_as_their_word(model):
    from mmlab.models.vlm import nearest_word_match

    tok = model.tokenizer
    words = torch.tensor([[[tok.stoi[w]] for w in tok.cell_words()[:4]]])  # (1, P, 1)
    model.prefix = lambda features: features  # the "projector" outputs exactly the given vectors
    exact = model.gpt.tok_emb(words).mean(dim=2).detach()  # (1, P, C)
    assert nearest_word_match(model, exact, words) == 1.0
    assert nearest_word_match(model, exact.roll(1, dims=1), words) == 0.0
    half = exact.clone()
    half[0, 2:] = exact[0, :2]  # cells 2 and 3 now read as the words of cells 0 and 1
    assert nearest_word_match(model, half, words) == 0.5
    assert nearest_word_match(model, half, words, cells=torch.tensor([[True, True, False, False]])) == 1.0
    assert nearest_word_match(model, half, words, cells=torch.tensor([[False, False, True, True]])) == 0.0
    with pytest.raises(ValueError, match="no cell"):
        nearest_word_match(model, half, words, cells=torch.zeros(1, 4, dtype=torch.bool))


def test_train_vlm_runs_every_stage():
    from dataclasses import fields

    from mmlab.recipes.vlm import VLMSettings, train_vlm

    tiny = dict(n_train=24, n_test=8, d_model=16, n_heads=2, n_layers=1, batch_size=16)
    tiny.update({f.name: 2 for f in fields(VLMSettings) if f.name.endswith("_steps")})
    model, results = train_vlm(VLMSettings(**tiny))
    expected = {"majority", "region", "text_only", "stage0_vqa", "stage1_caption", "stage1_vqa"}
    expected |= {"word_match", "word_match_filled", "untrained_caption", "stage2_caption", "stage2_vqa"}
    expected |= {"shuffled_vqa", "captions_right"}
    assert set(results) == expected
    assert all(0 <= v <= 1 for k, v in results.items() if k != "captions_right")
    assert isinstance(model.caption(torch.rand(3, 24, 24)), str)
    with pytest.raises(TypeError, match="n_trian"):
        VLMSettings(n_trian=10)


def test_the_chapters_stage_by_stage_foundation_is_train_foundations():
    """Chapter 12 trains its region namer by hand, then calls pretrain_foundation: the same weights and
    results as train_foundation, and the foundation's untrained GPT is the one before stage 0."""
    from dataclasses import fields

    from mmlab.device import seed_everything
    from mmlab.recipes.vlm import (
        VLMSettings,
        build_model,
        load_vlm_data,
        majority_rate,
        pretrain_foundation,
        train_foundation,
        train_region_namer,
    )

    tiny = dict(n_train=24, n_test=8, d_model=16, n_heads=2, n_layers=1, batch_size=16, progress=False)
    tiny.update({f.name: 3 for f in fields(VLMSettings) if f.name.endswith("_steps")})
    settings = VLMSettings(**tiny)
    reference = train_foundation(settings)
    seed_everything(settings.seed)
    data = load_vlm_data(settings)
    model = build_model(data, settings)
    results = {"majority": majority_rate(data), "region": train_region_namer(model, data, settings)}
    before = {k: v.clone() for k, v in model.gpt.state_dict().items()}
    foundation = pretrain_foundation(model, data, results, settings)
    assert foundation.pretrained is not model and foundation.results == reference.results
    assert list(foundation.results) == ["majority", "region", "stage0_vqa"]
    for mine, theirs in ((foundation.untrained, reference.untrained), (model, reference.pretrained)):
        for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
            assert torch.equal(a, b), name
    untrained = foundation.untrained.gpt.state_dict()
    assert all(torch.equal(untrained[k], v) for k, v in before.items())
    assert any(not torch.equal(model.gpt.state_dict()[k], v) for k, v in before.items())  # stage 0 trained


def test_chapter_reads_the_vlm_jobs_cpu_preset():
    """Chapter 12 takes its settings from the ``vlm`` recipe, whose defaults are ``train_vlm``'s."""
    from pathlib import Path

    source = (Path(__file__).parents[1] / "source" / "chapters" / "12_vision_language_model.py").read_text()
    assert 'SCALE = "cpu"\nSETTINGS = resolve_settings("vlm", SCALE)' in source
