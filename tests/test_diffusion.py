"""Chapter 15's diffusion pieces against ``diffusers``' DDPMScheduler and DDIMScheduler (same betas,
alpha-bars, forward noising and sampler steps, to float32 rounding: atol 1e-5), classifier-free
guidance, and the tiny U-Net's shapes and caption switch."""

import pytest
import torch

from mmlab.diffusion import (
    NoiseSchedule,
    add_noise,
    ddim_step,
    ddpm_step,
    diffusion_loss,
    guide,
    inference_timesteps,
    sample,
)
from mmlab.models.unet import TinyUNet, UNetConfig

diffusers = pytest.importorskip("diffusers")
ATOL = 1e-5


@pytest.mark.parametrize("schedule_name", ["linear", "squaredcos_cap_v2"])
def test_schedule_matches_diffusers(schedule_name):
    ours = NoiseSchedule(beta_schedule=schedule_name)
    ref = diffusers.DDPMScheduler(beta_schedule=schedule_name)
    torch.testing.assert_close(ours.betas, ref.betas, atol=1e-7, rtol=1e-6)
    torch.testing.assert_close(ours.alphas_cumprod, ref.alphas_cumprod, atol=1e-7, rtol=1e-5)
    # the cumulative product, not the single-step alpha, is what q(x_t | x_0) uses
    assert not torch.allclose(ours.alphas, ours.alphas_cumprod)


def test_add_noise_matches_diffusers():
    torch.manual_seed(0)
    schedule, ref = NoiseSchedule(), diffusers.DDPMScheduler()
    x0, noise = torch.rand(6, 3, 8, 8) * 2 - 1, torch.randn(6, 3, 8, 8)
    t = torch.tensor([0, 1, 10, 250, 500, 999])
    torch.testing.assert_close(
        add_noise(x0, noise, t, schedule), ref.add_noise(x0, noise, t), atol=ATOL, rtol=0
    )
    late = add_noise(x0, noise, torch.full((6,), 999), schedule)
    assert (late - noise).abs().mean() < 0.02  # at t = T-1 almost nothing of x0 is left


@pytest.mark.parametrize("t", [999, 500, 37, 1, 0])
def test_ddpm_step_matches_diffusers(t):
    torch.manual_seed(1)
    schedule, ref = NoiseSchedule(), diffusers.DDPMScheduler()
    x_t, eps = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    expected = ref.step(eps, t, x_t, generator=torch.Generator().manual_seed(5)).prev_sample
    noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(5))  # the noise diffusers draws
    torch.testing.assert_close(ddpm_step(eps, t, x_t, schedule, noise), expected, atol=ATOL, rtol=0)


def test_strided_ddpm_step_matches_diffusers():
    torch.manual_seed(2)
    schedule, ref = NoiseSchedule(), diffusers.DDPMScheduler()
    ref.set_timesteps(50)
    ours = inference_timesteps(1000, 50)
    assert ours == ref.timesteps.tolist()
    x_t, eps = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    t, prev = ours[10], ours[11]
    expected = ref.step(eps, t, x_t, generator=torch.Generator().manual_seed(3)).prev_sample
    noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(ddpm_step(eps, t, x_t, schedule, noise, prev), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("steps", [10, 50])
@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_ddim_steps_match_diffusers(steps, eta):
    torch.manual_seed(3)
    schedule, ref = NoiseSchedule(), diffusers.DDIMScheduler()
    ref.set_timesteps(steps)
    timesteps = inference_timesteps(1000, steps)
    assert timesteps == ref.timesteps.tolist()
    x = torch.randn(2, 3, 8, 8)
    x_ref = x.clone()
    for i, t in enumerate(timesteps):  # a whole run, with a made-up "model" that depends on x and t
        eps, eps_ref = torch.tanh(x) * (t / 1000), torch.tanh(x_ref) * (t / 1000)
        prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(i))
        x = ddim_step(eps, t, x, schedule, prev, eta=eta, noise=noise)
        x_ref = ref.step(eps_ref, t, x_ref, eta=eta, generator=torch.Generator().manual_seed(i)).prev_sample
    torch.testing.assert_close(x, x_ref, atol=1e-4, rtol=0)


def test_guidance_combination():
    cond, uncond = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 1.0])
    torch.testing.assert_close(guide(cond, uncond, 0.0), uncond)
    torch.testing.assert_close(guide(cond, uncond, 1.0), cond)
    torch.testing.assert_close(guide(cond, uncond, 3.0), torch.tensor([4.0, -5.0]))  # 1 + 3 * (2 - 1)


def test_inference_timesteps_rejects_bad_counts():
    with pytest.raises(ValueError):
        inference_timesteps(1000, 0)
    with pytest.raises(ValueError):
        inference_timesteps(10, 20)


def test_unet_shapes_caption_switch_and_sampling():
    torch.manual_seed(0)
    model = TinyUNet(UNetConfig(width=16, cond_dim=8, emb_dim=32))
    for p in model.out.parameters():  # the zero-initialised head would make every output 0
        torch.nn.init.normal_(p, std=0.1)
    x, t, cond = torch.randn(3, 3, 16, 16), torch.tensor([0, 10, 999]), torch.randn(3, 8)
    out = model(x, t, cond)
    assert out.shape == x.shape
    dropped = model(x, t, cond, torch.tensor([True, True, False]))
    torch.testing.assert_close(dropped[2], out[2])  # not dropped: unchanged
    torch.testing.assert_close(dropped[:2], model(x[:2], t[:2], model.null_cond.expand(2, 8)))
    loss, metrics = diffusion_loss(model, {"images": x.clamp(-1, 1), "cond": cond}, NoiseSchedule())
    loss.backward()
    assert model.stem.weight.grad.abs().sum() > 0 and metrics["mse"] > 0
    for method in ("ddim", "ddpm"):
        images = sample(
            model,
            cond,
            NoiseSchedule(),
            (3, 16, 16),
            num_steps=4,
            method=method,
            generator=torch.Generator().manual_seed(0),
        )
        assert images.shape == (3, 3, 16, 16) and images.abs().max() <= 1
    with pytest.raises(ValueError, match="method"):
        sample(model, cond, NoiseSchedule(), (3, 16, 16), method="euler")


def test_a_short_training_run_learns_to_predict_noise():
    """A few hundred steps on one coloured square: the loss falls well below predicting zero noise (1.0)."""
    torch.manual_seed(0)
    schedule = NoiseSchedule()
    model = TinyUNet(UNetConfig(width=16, cond_dim=4, emb_dim=32))
    images = -torch.ones(64, 3, 16, 16)
    images[:, 0, 4:12, 4:12] = 1.0
    cond = torch.zeros(64, 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(150):
        loss, _ = diffusion_loss(model, {"images": images, "cond": cond}, schedule)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-20:]) / 20 < 0.3, losses[-20:]


@pytest.mark.parametrize("method", ["ddpm", "ddim"])
def test_sample_prediction_matches_diffusers(method):
    """A network that predicts x_0 (``prediction_type="sample"``), chapter 15b's cosine schedule with
    T = 200: a whole strided run agrees with diffusers, and the loss targets x_0."""
    torch.manual_seed(4)
    kwargs = dict(num_train_timesteps=200, beta_schedule="squaredcos_cap_v2")
    schedule = NoiseSchedule(**kwargs, prediction="sample")
    ref_cls = diffusers.DDPMScheduler if method == "ddpm" else diffusers.DDIMScheduler
    ref = ref_cls(**kwargs, prediction_type="sample")
    ref.set_timesteps(20)
    timesteps = inference_timesteps(200, 20)
    assert timesteps == ref.timesteps.tolist()
    x = torch.randn(2, 3, 8, 8)
    x_ref = x.clone()
    for i, t in enumerate(timesteps):
        out, out_ref = torch.tanh(x) * 0.9, torch.tanh(x_ref) * 0.9  # a made-up x_0 guess
        prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        if method == "ddpm":
            noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(i)) if t > 0 else None
            x = ddpm_step(out, t, x, schedule, noise, prev)
            step = ref.step(out_ref, t, x_ref, generator=torch.Generator().manual_seed(i))
        else:
            x = ddim_step(out, t, x, schedule, prev)
            step = ref.step(out_ref, t, x_ref)
        x_ref = step.prev_sample
    torch.testing.assert_close(x, x_ref, atol=1e-4, rtol=0)


def test_sample_prediction_loss_targets_the_clean_image():
    class Copy(torch.nn.Module):  # "predicts" x_0 as the batch's own clean images, whatever it is shown
        def forward(self, x, t, cond, drop):
            return batch["images"]

    batch = {"images": torch.rand(4, 3, 8, 8) * 2 - 1, "cond": torch.zeros(4, 2)}
    loss, _ = diffusion_loss(Copy(), batch, NoiseSchedule(prediction="sample"))
    assert loss.item() == 0.0
    eps_loss, _ = diffusion_loss(Copy(), batch, NoiseSchedule())
    assert eps_loss.item() > 0.5  # the same output is a bad noise guess
    with pytest.raises(ValueError, match="prediction"):
        NoiseSchedule(prediction="v")
