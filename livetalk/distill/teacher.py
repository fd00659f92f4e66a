"""Stage 0: the bidirectional multimodal flow-matching teacher.

* `teacher_loss`: flow matching on clean latents with condition dropout (text → negative prompt, audio →
  zeros, independently), so one network gives conditional and unconditional predictions for CFG.
* `guided_velocity`: classifier-free guidance with separate text and audio scales
  `uncond + s_t·(text_only − uncond) + s_a·(cond − text_only)` (OmniAvatar; unconditional = negative prompt,
  same reference image, zeroed audio).
* `sample_teacher`: many-step Euler sampler (shift 5), latent frame 0 fixed to the reference at every step,
  optionally returning the states at the student's timesteps (the ODE-pair trajectory).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..diffusion.schedule import NUM_TRAIN_TIMESTEPS, FlowMatchSchedule, shift_timestep
from ..models.dit import WanDiT
from .batch import TrainBatch, with_reference


def predict_velocity(model: WanDiT, x: torch.Tensor, t: torch.Tensor, batch: TrainBatch, **kwargs) -> torch.Tensor:
    """Call the DiT with the batch's conditions; `t` is `[B]` (bidirectional) or `[B, F]`."""
    cond = batch.cond if model.cfg.has_cond else None
    audio = batch.audio if model.cfg.use_audio else None
    return model(x, t, batch.context, cond, audio, **kwargs)


def sample_train_timesteps(batch_size: int, shift: float, generator: torch.Generator | None, device) -> torch.Tensor:
    """t ~ U[0, 1000) warped by the shift (no clamp beyond [0, 1000]); `[B]` float32."""
    u = torch.rand(batch_size, generator=generator) * NUM_TRAIN_TIMESTEPS
    return shift_timestep(u, shift, 0.0, float(NUM_TRAIN_TIMESTEPS)).float().to(device)


def drop_conditions(batch: TrainBatch, p_text: float, p_audio: float, generator: torch.Generator | None) -> TrainBatch:
    """Per sample, replace the prompt by the negative prompt (p_text) and zero the audio (p_audio)."""
    b = batch.latents.shape[0]
    drop_t = (torch.rand(b, generator=generator) < p_text).to(batch.context.device)
    context = torch.where(drop_t[:, None, None], batch.neg_context, batch.context)
    audio = batch.audio
    if audio is not None:
        drop_a = (torch.rand(b, generator=generator) < p_audio).to(audio.device)
        audio = torch.where(drop_a[:, None, None, None], torch.zeros_like(audio), audio)
    return replace(batch, context=context, audio=audio)


def weighted_mean(err: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of `[B, F, C, H, W]` errors, with optional per-position weights `[H, W]` (normalised by their mean, so
    uniform weights give the plain mean; a 0/1 mask gives the mean inside the mask)."""
    if weights is None:
        return err.mean()
    w = weights.to(err.device, err.dtype)
    return (err * w).mean() / w.mean()


def weighted_mse(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error of `[B, F, C, H, W]` tensors in fp32 (`weighted_mean` of the squared error)."""
    return weighted_mean((pred.float() - target.float()) ** 2, weights)


def mouth_weights(latent_hw: tuple[int, int], box: tuple[float, float, float, float], weight: float,
                  device=None) -> torch.Tensor | None:
    """Latent-grid loss weights `[h, w]` (1, and 1 + weight inside `box`), or None when weight is 0.

    The box is fixed because the world's faces are centred; with real data it would come from face landmarks of
    the reference. On the shipped tiny VAE, 92 % of the latent change caused by the mouth alone (same frames
    rendered with the mouth closed) falls inside the default box (tests/distill/test_mouth_weights.py)."""
    if not weight:
        return None
    from ..models.vae_train import region_weights

    return region_weights(tuple(latent_hw), box, weight).to(device)


def box_mask(latent_hw: tuple[int, int], box: tuple[float, float, float, float], device=None) -> torch.Tensor:
    """0/1 mask `[h, w]` of `box` on the latent grid: with `weighted_mean`, the mean inside the box alone."""
    return mouth_weights(latent_hw, box, 1.0, device) - 1


def teacher_loss(model: WanDiT, batch: TrainBatch, schedule: FlowMatchSchedule, *,
                 weights: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
    """Flow-matching MSE on velocity `ε − x0`, frame 0 held at the clean reference and excluded from the loss
    (`kwargs`: shift, p_drop_text, p_drop_audio, generator, as `teacher_error`).

    `weights` `[h, w]` (latent grid, e.g. `mouth_weights`) up-weights a region: the mouth is ~0.3 % of the
    latents' variation, so the plain loss barely rewards following the audio (docs/results.md)."""
    return weighted_mean(teacher_error(model, batch, schedule, **kwargs), weights)


def teacher_error(
    model: WanDiT,
    batch: TrainBatch,
    schedule: FlowMatchSchedule,
    *,
    shift: float = 5.0,
    p_drop_text: float = 0.1,
    p_drop_audio: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The squared velocity error behind `teacher_loss`, per element: fp32 `[B, F − 1, C, h, w]` (frame 0
    excluded), so one forward pass can be averaged several ways (whole frame, mouth box)."""
    x0 = batch.latents
    b = x0.shape[0]
    t = sample_train_timesteps(b, shift, generator, x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0)
    x_t = with_reference(schedule.add_noise(x0, noise, t), batch.ref)
    dropped = drop_conditions(batch, p_drop_text, p_drop_audio, generator)
    v = predict_velocity(model, x_t, t, dropped)
    target = schedule.velocity_target(x0, noise)
    return (v[:, 1:].float() - target[:, 1:].float()) ** 2


def guided_velocity(
    model: WanDiT,
    x: torch.Tensor,
    t: torch.Tensor,
    batch: TrainBatch,
    text_scale: float,
    audio_scale: float,
) -> torch.Tensor:
    """CFG with separate scales: `uncond + text·(text_only − uncond) + audio·(cond − text_only)`.

    Passes whose terms cancel are skipped (same value up to float rounding): both scales 1 → the conditional pass
    alone (1 NFE); equal scales g → `uncond + g·(cond − uncond)` (2 NFE, no text-only pass); text scale 1 →
    `text_only + audio·(cond − text_only)` (2 NFE, no unconditional pass); a model without audio → 2 NFE; otherwise
    3 NFE. `teacher_nfe` counts the same way."""
    v_cond = predict_velocity(model, x, t, batch)
    if text_scale == 1.0 and audio_scale == 1.0:
        return v_cond
    has_audio = batch.audio is not None and model.cfg.use_audio
    if not has_audio or text_scale == audio_scale:
        v_uncond = predict_velocity(model, x, t, batch.unconditional())
        return v_uncond + text_scale * (v_cond - v_uncond)
    v_text = predict_velocity(model, x, t, batch.text_only())
    if text_scale == 1.0:
        return v_text + audio_scale * (v_cond - v_text)
    v_uncond = predict_velocity(model, x, t, batch.unconditional())
    return v_uncond + text_scale * (v_text - v_uncond) + audio_scale * (v_cond - v_text)


@torch.no_grad()
def sample_teacher(
    model: WanDiT,
    batch: TrainBatch,
    *,
    steps: int = 48,
    shift: float = 5.0,
    text_scale: float = 4.5,
    audio_scale: float = 4.5,
    keep: list[int] | None = None,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Euler sampling from noise; returns (x0 `[B, F, 16, h, w]`, the states before the steps in `keep`).

    With `steps = 4k` and `keep = [0, k, 2k, 3k]` the kept states sit exactly at σ = 1, 0.9375, 0.8333, 0.625
    — the student's timesteps (spec §4.2). Frame 0 is the clean reference at every step.
    """
    sched = FlowMatchSchedule(steps, shift)
    x = noise if noise is not None else torch.randn(batch.latents.shape, generator=generator).to(batch.latents)
    b = x.shape[0]
    kept = []
    ts = sched.model_timesteps().to(x.device)
    for i in range(steps):
        x = with_reference(x, batch.ref)
        if keep is not None and i in keep:
            kept.append(x.clone())
        t = ts[i].expand(b)
        v = guided_velocity(model, x, t, batch, text_scale, audio_scale)
        # Euler in σ taken from the grid itself (the model sees the bf16-rounded t, the step uses exact σ)
        s_now = sched.sigmas[i].item()
        s_next = sched.sigmas[i + 1].item() if i + 1 < steps else 0.0
        x = (x.double() + v.double() * (s_next - s_now)).to(x.dtype)
    x = with_reference(x, batch.ref)
    return x, kept


def teacher_nfe(steps: int, text_scale: float, audio_scale: float, has_audio: bool = True) -> int:
    """Network evaluations of `sample_teacher` (`guided_velocity`'s passes per step × steps)."""
    if text_scale == 1.0 and audio_scale == 1.0:
        return steps
    if not has_audio or text_scale == audio_scale or text_scale == 1.0:
        return steps * 2
    return steps * 3
