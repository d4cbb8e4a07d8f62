"""Chapter 15's VQ-VAE: nearest-entry look-up, straight-through gradients, the two codebook losses,
shapes, dead codes, and that a short training run on the placed shapes reconstructs them."""

import pytest
import torch
import torch.nn.functional as F

from mmlab.data.multimodal.placed import (
    PLACES,
    UNSEEN,
    all_combinations,
    make_placed_shapes,
    parse_placed_caption,
    placed_caption,
)
from mmlab.models.vqvae import VQVAE, VQVAEConfig, dead_codes, quantize, vqvae_loss


def test_quantize_picks_the_nearest_entry_like_cdist():
    torch.manual_seed(0)
    z, codebook = torch.randn(2, 4, 3, 3), torch.randn(10, 4)
    z_q, codes, _ = quantize(z, codebook)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 4)
    expected = torch.cdist(flat, codebook).argmin(1).view(2, 3, 3)
    assert torch.equal(codes, expected)
    torch.testing.assert_close(z_q, codebook[expected].permute(0, 3, 1, 2))


def test_straight_through_gradient_reaches_the_encoder_unchanged():
    torch.manual_seed(0)
    z = torch.randn(2, 4, 3, 3, requires_grad=True)
    codebook = torch.randn(10, 4)
    weights = torch.randn(2, 4, 3, 3)
    z_q, _, _ = quantize(z, codebook)
    (z_q * weights).sum().backward()
    torch.testing.assert_close(z.grad, weights)  # d z_q / d z is the identity
    z.grad = None
    z_q, _, _ = quantize(z, codebook, straight_through=False)
    assert not z_q.requires_grad  # without it the encoder gets nothing from the decoder


def test_codebook_loss_moves_the_codebook_and_commitment_moves_the_encoder():
    torch.manual_seed(0)
    z = torch.randn(2, 4, 3, 3, requires_grad=True)
    codebook = torch.randn(10, 4, requires_grad=True)
    _, codes, losses = quantize(z, codebook)
    chosen = codebook[codes.flatten()].detach()
    flat = z.detach().permute(0, 2, 3, 1).reshape(-1, 4)
    reference = ((flat - chosen) ** 2).mean()
    torch.testing.assert_close(losses["codebook"], reference)
    torch.testing.assert_close(losses["commitment"], reference)  # same value, different gradients
    losses["codebook"].backward()
    assert z.grad is None and codebook.grad.abs().sum() > 0
    codebook.grad = None
    losses["commitment"].backward()
    assert codebook.grad is None and z.grad.abs().sum() > 0


def test_shapes_dead_codes_and_loss_terms():
    torch.manual_seed(0)
    config = VQVAEConfig(image_size=16, channels=(8, 16), codebook_size=12, code_dim=4)
    model = VQVAE(config)
    images = torch.rand(5, 3, 16, 16) * 2 - 1
    recon, codes, _ = model(images)
    assert recon.shape == images.shape and codes.shape == (5, config.grid, config.grid) == (5, 4, 4)
    torch.testing.assert_close(model.decode(model.encode(images)), recon)
    assert dead_codes(torch.tensor([[0, 1], [1, 3]]), 5) == 2  # 2 and 4 are unused
    loss, metrics = vqvae_loss(model, {"images": images})
    expected = metrics["reconstruction"] + metrics["codebook"] + 0.25 * metrics["commitment"]
    torch.testing.assert_close(loss.detach(), expected)
    loss.backward()
    assert model.encoder[0].weight.grad.abs().sum() > 0  # reached through the straight-through path
    with pytest.raises(ValueError, match="divisible"):
        VQVAEConfig(image_size=18, channels=(8, 16))


def test_placed_shapes_data():
    data = make_placed_shapes(40, seed=0)
    assert data["images"].shape == (40, 3, 16, 16)
    assert data["images"].min() >= -1 and data["images"].max() <= 1
    seen = {parse_placed_caption(c) for c in data["captions"]}
    assert not seen & set(UNSEEN) and len(all_combinations()) == 36
    c, k, p = data["colours"][0], data["kinds"][0], data["places"][0]
    assert parse_placed_caption(data["captions"][0])[2] == PLACES[p] and int(c) >= 0 and int(k) >= 0
    # the shape's pixels sit in the cell its caption names
    image = (data["images"][0] + 1).sum(0)  # (16, 16), zero on the black background
    row, col = divmod(int(p), 2)
    assert image[row * 8 : row * 8 + 8, col * 8 : col * 8 + 8].sum() > 0.9 * image.sum()
    assert placed_caption("red", "circle", "top left") == "a red circle top left"
    for bad in ("a purple circle top left", "red circle", ""):
        with pytest.raises(ValueError):
            parse_placed_caption(bad)


def test_short_training_reconstructs_and_uses_the_codebook():
    torch.manual_seed(0)
    images = make_placed_shapes(256, seed=0)["images"]
    model = VQVAE(VQVAEConfig(channels=(16, 32), codebook_size=16, code_dim=8))
    model.init_codebook(images[:64])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    before = F.mse_loss(model(images)[0], images).item()
    for step in range(150):
        batch = images[(step * 32) % 256 :][:32]
        loss, _ = vqvae_loss(model, {"images": batch})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        recon, codes, _ = model(images)
    after = F.mse_loss(recon, images).item()
    assert after < 0.5 * before, (before, after)
    assert dead_codes(codes, 16) < 16 - 2  # more than two codes in use
