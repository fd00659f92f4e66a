"""Stage 2: Distribution Matching Distillation on the student's own rollouts (Self Forcing), spec §4.3.

* `self_forcing_rollout`: the causal student generates a whole clip block by block with its KV cache, exactly
  as at inference. Per block, steps before the exit step run without gradients (x0 prediction, re-noised
  with fresh noise); the exit step runs with gradients and its x0 is the block's output; a clean pass at
  t = 0 then refreshes the block's cache slots. Earlier context is detached: the cache hands attention a
  detached prefix concatenated with the new k/v and is written outside autograd (pitfall 14).
* `dmd_generator_loss`: the real score (teacher with CFG, `cond + g·(cond − uncond)`: g = 5 is LiveTalk's
  "CFG 6", g = 3 plain Self Forcing's CFG 4) and the fake score (critic, conditional only) denoise the noised
  rollout; the normalised difference is the gradient, applied through `0.5·‖x − sg(x − grad)‖²`.
* `critic_loss`: flow matching of the critic on (detached) rollouts.

Conscious choices (documented in docs/distillation.md):
* Critic mask (pitfall 15): the published code zeroes channel 0 of every frame instead of frame 0. Default
  here: mask latent frame 0 (the fixed reference) as intended; `critic_mask="published"` reproduces the bug.
* Context pass: clean x0 at t = 0, as at inference (the published training adds σ(0) ≈ 0.005 noise).
"""

from __future__ import annotations

import copy as _copy

import torch
import torch.nn.functional as F

from ..diffusion.schedule import NUM_TRAIN_TIMESTEPS, FlowMatchSchedule, shift_timestep
from ..models.dit import WanDiT
from .batch import TrainBatch, with_reference
from . import parallel
from .ode import STUDENT_TIMESTEPS
from .teacher import guided_velocity, predict_velocity


def self_forcing_rollout(
    student: WanDiT,
    batch: TrainBatch,
    schedule: FlowMatchSchedule,
    *,
    exit_index: int,
    block: int = 3,
    timesteps: tuple[float, ...] = STUDENT_TIMESTEPS,
    generator: torch.Generator | None = None,
    grad_from: int = 0,
    sink_size: int = 0,
    local_attn_size: int = -1,
) -> torch.Tensor:
    """Roll out a clip `[B, F, 16, h, w]`; gradients flow only through each block's exit step.

    Run under `torch.no_grad()` for a rollout without gradients (critic updates).
    grad_from: latent frame; blocks ending at or before it run wholly without gradients (a long rollout whose
        early blocks are context only, `long_rollout_window`).
    sink_size, local_attn_size: the cache, in latent frames. Published training: 0 and -1 (full history);
        long rollouts use the inference cache (9 sinks, 15 frames) so the student trains on the context it streams with.
    """
    b, f, c, h, w = batch.latents.shape
    dev, dtype = batch.latents.device, student.dtype
    cache = student.new_cache(b, (h, w), sink_size=sink_size, local_attn_size=local_attn_size, max_frames=f,
                              dtype=parallel.compute_dtype(student))  # bf16 under FSDP mixed precision
    outputs = []
    for s in range(0, f, block):
        e = min(s + block, f)
        cond, audio = batch.blocks(s, e)
        cond = cond if student.cfg.has_cond else None
        audio = audio if student.cfg.use_audio else None
        x = torch.randn(b, e - s, c, h, w, generator=generator).to(dev, dtype)
        context_only = e <= grad_from
        for i in range(exit_index + 1):
            if s == 0:
                x = with_reference(x, batch.ref)
            t = torch.full((b, e - s), timesteps[i], device=dev)
            # gradients only through the exit step of a scored block (and only if the caller records any)
            with torch.set_grad_enabled(torch.is_grad_enabled() and i == exit_index and not context_only):
                v = student(x, t, batch.context, cond, audio, kv_cache=cache, start_frame=s)
                x0 = schedule.x0_from_velocity(x, v, t)
            if i < exit_index:
                with torch.no_grad():
                    eps = torch.randn(x0.shape, generator=generator).to(x0)
                    x = schedule.add_noise(x0, eps, torch.full((b, e - s), timesteps[i + 1], device=dev))
        if s == 0:
            x0 = torch.cat([batch.ref[:, None].to(x0.dtype), x0[:, 1:]], dim=1)
        outputs.append(x0)
        if e < f:  # clean context pass (not needed after the last block)
            with torch.no_grad():
                student(x0.detach(), torch.zeros(b, e - s, device=dev), batch.context, cond, audio,
                        kv_cache=cache, start_frame=s)
    return torch.cat(outputs, dim=1)


def long_rollout_window(
    student: WanDiT,
    batch: TrainBatch,
    schedule: FlowMatchSchedule,
    *,
    window: int,
    end: int,
    exit_index: int,
    block: int = 3,
    sink_size: int = 9,
    local_attn_size: int = 15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, TrainBatch]:
    """Self Forcing on long rollouts (ours, after Self-Forcing++): the student streams latent frames [0, end) with
    the inference cache, and only the last `window` frames are scored; the earlier blocks are context, rolled out
    without gradients. Returns the window `[B, window, 16, h, w]` with frame 0 replaced by the clean reference
    (no gradient there) and the batch of the same frames: the teacher and the critic see a clip shaped like their
    training windows (reference latent in frame 0, then `window − 1` frames of the stream), which is how
    `prepare_latents` cuts windows out of long clips. `end` and `window` are multiples of `block`, window ≤ end ≤ F.
    """
    f = batch.num_frames
    if window % block or end % block or not window <= end <= f:
        raise ValueError(f"need window ({window}) ≤ end ({end}) ≤ clip frames ({f}), both multiples of {block}")
    start = end - window
    video = self_forcing_rollout(student, batch.window(0, end), schedule, exit_index=exit_index, block=block,
                                 generator=generator, grad_from=start, sink_size=sink_size,
                                 local_attn_size=local_attn_size)
    return with_reference(video[:, start:], batch.ref), batch.window(start, end)


def sample_score_timesteps(
    batch_size: int, shift: float, t_min: float, t_max: float, generator: torch.Generator | None, device
) -> torch.Tensor:
    """DMD / critic timesteps: `U{0..999}` warped by `shift` and clamped to [t_min, t_max]; `[B]` float32."""
    u = torch.randint(0, NUM_TRAIN_TIMESTEPS, (batch_size,), generator=generator).double()
    return shift_timestep(u, shift, t_min, t_max).float().to(device)


def _noised(video, batch, schedule, t, generator):
    noise = torch.randn(video.shape, generator=generator).to(video)
    return with_reference(schedule.add_noise(video, noise, t), batch.ref), noise


def real_x0(
    real: WanDiT, x_t, t, batch: TrainBatch, schedule, guidance: float, audio_guidance: float | None = None
) -> torch.Tensor:
    """Teacher x0 with CFG, as the published `LT:model/dmd.py` (spec §4.3, pitfall 16).

    `audio_guidance` None or equal to `guidance` (the published 5 / 5): the standard branch
    `cond + g·(cond − uncond)`, i.e. CFG g + 1. Different scales: the separate branch
    `uncond + g·(text_only − uncond) + g_a·(cond − text_only)`, where the scales are full CFG scales (g = g_a = 1 is
    the conditional prediction), so moving `audio_guidance` off `guidance` changes what `guidance` means."""
    separate = audio_guidance is not None and audio_guidance != guidance and batch.audio is not None
    # x0 is affine in the velocity, so guiding velocities is guiding x0s; `guided_velocity` skips the passes that
    # cancel (text scale 1: no unconditional pass; both scales 1: the conditional pass alone)
    text, audio = (guidance, audio_guidance) if separate else (guidance + 1.0, guidance + 1.0)
    return schedule.x0_from_velocity(x_t, guided_velocity(real, x_t, t, batch, text, audio), t)


def dmd_generator_loss(
    video: torch.Tensor,
    batch: TrainBatch,
    real: WanDiT,
    fake: WanDiT,
    schedule: FlowMatchSchedule,
    *,
    guidance: float = 5.0,
    audio_guidance: float | None = None,
    shift: float = 5.0,
    t_min: float = 20.0,
    t_max: float = 980.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict]:
    """DMD loss on a rollout `video` that carries gradients; returns (loss, logs)."""
    b = video.shape[0]
    t = sample_score_timesteps(b, shift, t_min, t_max, generator, video.device)
    with torch.no_grad():
        x_t, _ = _noised(video.detach(), batch, schedule, t, generator)
        x0_fake = schedule.x0_from_velocity(x_t, predict_velocity(fake, x_t, t, batch), t)
        x0_real = real_x0(real, x_t, t, batch, schedule, guidance, audio_guidance)
        diff = (x0_fake - x0_real).double()
        norm = (video.detach().double() - x0_real.double()).abs().mean(dim=(1, 2, 3, 4), keepdim=True)
        grad = torch.nan_to_num(diff / norm)
    target = (video.double() - grad).detach()
    loss = 0.5 * F.mse_loss(video.double(), target)
    return loss.float(), {"dmd_grad_norm": grad.abs().mean().item(), "t_mean": t.mean().item()}


def critic_loss(
    fake: WanDiT,
    video: torch.Tensor,
    batch: TrainBatch,
    schedule: FlowMatchSchedule,
    *,
    shift: float = 5.0,
    t_min: float = 20.0,
    t_max: float = 980.0,
    critic_mask: str = "frame0",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Flow-matching loss of the critic on a detached rollout; `critic_mask` is "frame0" or "published"."""
    video = video.detach()
    t = sample_score_timesteps(video.shape[0], shift, t_min, t_max, generator, video.device)
    x_t, noise = _noised(video, batch, schedule, t, generator)
    v = predict_velocity(fake, x_t, t, batch)
    err = (v.float() - schedule.velocity_target(video, noise).float()) ** 2
    mask = torch.ones_like(err)
    if critic_mask == "frame0":
        mask[:, 0] = 0
    elif critic_mask == "published":  # reproduces the released bug: channel 0 of every frame
        mask[:, :, 0] = 0
    else:
        raise ValueError(f"critic_mask must be 'frame0' or 'published', got {critic_mask!r}")
    return (err * mask).sum() / mask.sum()


class EMA:
    """Exponential moving average of a model's parameters (fp32 copy), starting at `start_step`."""

    def __init__(self, model: torch.nn.Module, decay: float = 0.99, start_step: int = 200, copy: bool = True):
        """`copy=False` adopts `model` itself (already fp32, e.g. loaded separately under meta-device init)."""
        self.decay = decay
        self.start_step = start_step
        self.model = (_copy.deepcopy(model).float() if copy else model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = 0.0 if step < self.start_step else self.decay
        for pe, p in zip(self.model.parameters(), model.parameters()):
            pe.mul_(d).add_(p.detach().float(), alpha=1 - d)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, sd: dict) -> None:
        self.model.load_state_dict(sd)
