"""Shape/caption pairs for chapter 11's CLIP: captions describe what is drawn, exclusions hold, seeds repeat."""

import numpy as np
import pytest

from mmlab.data.multimodal import (
    COLOURS,
    KINDS,
    RGB,
    SIZES,
    SceneConfig,
    make_shape_captions,
    shape_caption,
    shape_caption_tensors,
)

UNSEEN = (("red", "square"), ("green", "triangle"), ("blue", "circle"))


def measure(image) -> tuple[str, str, str]:
    """Read (size, colour, kind) back from the pixels alone.

    Ink is where the brightest channel exceeds 100 (the background is black plus noise of std 8). The
    colour is the palette entry nearest the mean ink colour; the kind follows from how much of its
    bounding box the ink fills (square ~1, circle ~pi/4, triangle ~1/2); the size from the box's side.
    """
    pixels = np.asarray(image, dtype=np.float32)  # (H, W, 3)
    ink = pixels.max(axis=2) > 100
    ys, xs = np.nonzero(ink)
    side = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
    fill = ink.sum() / side**2
    mean = pixels[ink].mean(axis=0)
    colour = min(COLOURS, key=lambda c: np.linalg.norm(mean - np.array(RGB[c])))
    kind = "square" if fill > 0.9 else "circle" if fill > 0.65 else "triangle"
    size = "small" if side <= 8 else "large"
    return size, colour, kind


def test_captions_match_the_drawn_shapes():
    data = make_shape_captions(300, seed=0)
    for row in data:
        assert row["caption"] == shape_caption(row["size"], row["colour"], row["kind"])
        assert measure(row["image"]) == (row["size"], row["colour"], row["kind"]), row["caption"]


def test_excluded_combinations_are_absent_and_the_rest_present():
    data = make_shape_captions(600, seed=0, exclude=UNSEEN)
    pairs = set(zip(data["colour"], data["kind"]))
    assert pairs.isdisjoint(UNSEEN)
    assert pairs == {(c, k) for c in COLOURS for k in KINDS} - set(UNSEEN)
    assert set(data["size"]) == set(SIZES)
    for row in data.select(range(100)):  # the pixels agree: no unseen combination is drawn either
        assert measure(row["image"])[1:] not in UNSEEN
    everything = make_shape_captions(600, seed=0)
    assert set(zip(everything["colour"], everything["kind"])) >= set(UNSEEN)


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = (make_shape_captions(50, seed=s) for s in (3, 3, 4))
    assert a["caption"] == b["caption"] and a["caption"] != c["caption"]
    ta, tb, tc = (shape_caption_tensors(d)["images"] for d in (a, b, c))
    assert (ta == tb).all() and not (ta == tc).all()


def test_tensors_are_images_in_unit_range_with_attribute_indices():
    data = make_shape_captions(40, seed=1)
    t = shape_caption_tensors(data)
    assert t["images"].shape == (40, 3, 16, 16) and 0 <= t["images"].min() and t["images"].max() <= 1
    assert [KINDS[i] for i in t["kinds"]] == data["kind"]
    assert [COLOURS[i] for i in t["colours"]] == data["colour"]
    assert [SIZES[i] for i in t["sizes"]] == data["size"]


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match=r"\(colour, kind\) pairs"):
        make_shape_captions(10, exclude=(("triangle", "blue"),))
    with pytest.raises(ValueError, match="no colour-kind combination"):
        make_shape_captions(10, exclude=tuple((c, k) for c in COLOURS for k in KINDS))
    with pytest.raises(ValueError, match="one shape per image"):
        make_shape_captions(10, config=SceneConfig(max_shapes=2))
