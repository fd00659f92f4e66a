"""Stage 1: ODE pairs from the teacher and ODE-regression initialisation of the causal student (spec §4.2).

A trajectory is `[S=5, B, F, 16, h, w]`: the teacher's states at the student timesteps
[1000, 936, 832, 624] plus the clean result. For each 3-frame block independently an index in {0..3} is drawn;
the student sees that block at that noise level, all blocks together through the block-causal mask (noisy
context, CausVid / Self-Forcing ODE init), and regresses the clean result:
`MSE(x0_pred, trajectory[-1])` with x0_pred from the velocity and σ on the 1000-step grid.
"""

from __future__ import annotations

import torch

from ..diffusion.schedule import FlowMatchSchedule
from ..models.dit import WanDiT
from .batch import TrainBatch
from .teacher import predict_velocity, sample_teacher, weighted_mse

STUDENT_TIMESTEPS = (1000.0, 936.0, 832.0, 624.0)


def generate_ode_pairs(
    teacher: WanDiT,
    batch: TrainBatch,
    *,
    steps: int = 48,
    shift: float = 5.0,
    text_scale: float = 4.5,
    audio_scale: float = 4.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Teacher trajectory at the student timesteps: `[5, B, F, 16, h, w]` (entry 0 noise, entry 4 clean)."""
    if steps % 4:
        raise ValueError(f"teacher steps must be a multiple of 4 to hit the student timesteps, got {steps}")
    k = steps // 4
    x0, kept = sample_teacher(
        teacher, batch, steps=steps, shift=shift, text_scale=text_scale, audio_scale=audio_scale,
        keep=[0, k, 2 * k, 3 * k], generator=generator,
    )
    return torch.stack(kept + [x0])


def ode_regression_loss(
    student: WanDiT,
    batch: TrainBatch,
    trajectory: torch.Tensor,
    schedule: FlowMatchSchedule,
    *,
    block: int = 3,
    timesteps: tuple[float, ...] = STUDENT_TIMESTEPS,
    generator: torch.Generator | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Regression loss of the causal student on one batch of trajectories `[S, B, F, 16, h, w]` (optional
    per-position weights `[h, w]`, as in `teacher_loss`)."""
    s, b, f = trajectory.shape[:3]
    if s != len(timesteps) + 1:
        raise ValueError(f"trajectory has {s} states, expected {len(timesteps) + 1}")
    n_blocks = -(-f // block)
    idx = torch.randint(0, len(timesteps), (b, n_blocks), generator=generator)  # clean index never drawn
    frame_idx = idx.repeat_interleave(block, dim=1)[:, :f].to(trajectory.device)  # [B, F]
    gather = frame_idx[None, :, :, None, None, None].expand(1, b, f, *trajectory.shape[3:])
    x_t = torch.gather(trajectory[:-1], 0, gather)[0]
    t = torch.tensor(timesteps, device=trajectory.device)[frame_idx]  # [B, F]
    v = predict_velocity(student, x_t, t, batch, causal_block=block)
    x0_pred = schedule.x0_from_velocity(x_t, v, t)
    return weighted_mse(x0_pred, trajectory[-1], weights)
