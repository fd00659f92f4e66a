"""Does a trained model use its conditions? Held-out flow-matching loss with each condition swapped.

`condition_use` evaluates the conditional velocity error `‖v(x_t, t, c) − (ε − x0)‖²` (frame 0 excluded, as in
`teacher_loss`) on the same noise and timesteps with:
- the true audio, another clip's audio (the batch rolled by one), zeroed audio;
- the true prompt, another clip's prompt, the negative prompt.
A model that follows a condition has a clearly lower loss with the true one than with another clip's; equal
losses mean the condition is ignored (whatever the CFG scale, guidance then has nothing to amplify).

With `box` (top, bottom, left, right fractions of the latent grid, e.g. the world's mouth box) the same losses
are also reported inside the box only (key "mouth"): the audio acts on the mouth, a few latent positions, so its
effect on the whole-frame mean is diluted.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..diffusion.schedule import FlowMatchSchedule
from ..models.dit import WanDiT
from .batch import TrainBatch, with_reference
from .teacher import box_mask, predict_velocity, weighted_mean


@torch.no_grad()
def condition_use(model: WanDiT, batch: TrainBatch, timesteps: tuple[float, ...] = (200.0, 500.0, 800.0),
                  seed: int = 0, causal_block: int | None = None,
                  box: tuple[float, float, float, float] | None = None) -> dict:
    """Loss per condition variant and timestep (model timesteps in [0, 1000]), for a bidirectional model
    (`t` [B]) or a block-causal student (`causal_block=3`: the same t for every frame, `t` [B, F]).

    Returns {"audio": {"true", "other", "zero"}, "text": {"true", "other", "negative"}} of mean losses over the
    timesteps, "per_t" with the same per timestep, and with `box` "mouth" = the first dict inside the box only.
    Needs a batch of ≥ 2 clips."""
    b = batch.latents.shape[0]
    if b < 2:
        raise ValueError("condition_use needs at least 2 clips (another clip's condition is the control)")
    perm = torch.roll(torch.arange(b), 1)
    sched = FlowMatchSchedule(1000, 5.0)
    variants = {
        ("audio", "true"): batch,
        ("audio", "other"): replace(batch, audio=None if batch.audio is None else batch.audio[perm]),
        ("audio", "zero"): replace(batch, audio=None if batch.audio is None else torch.zeros_like(batch.audio)),
        ("text", "true"): batch,
        ("text", "other"): replace(batch, context=batch.context[perm]),
        ("text", "negative"): replace(batch, context=batch.neg_context),
    }
    g = torch.Generator().manual_seed(seed)
    mask = None if box is None else box_mask(batch.latents.shape[-2:], box, batch.latents.device)
    per_t: dict = {}
    per_t_box: dict = {}
    for tv in timesteps:
        noise = torch.randn(batch.latents.shape, generator=g).to(batch.latents)
        t = torch.full((b,), float(tv), device=batch.latents.device)
        x_t = with_reference(sched.add_noise(batch.latents, noise, t), batch.ref)
        target = sched.velocity_target(batch.latents, noise)
        tt = t[:, None].expand(b, batch.latents.shape[1]) if causal_block else t
        kw = {"causal_block": causal_block} if causal_block else {}
        cache: dict = {}
        for (cond, name), vb in variants.items():
            key = id(vb)
            if key not in cache:
                err = (predict_velocity(model, x_t, tt, vb, **kw)[:, 1:].float() - target[:, 1:].float()) ** 2
                cache[key] = (float(weighted_mean(err)), float(weighted_mean(err, mask)) if mask is not None else None)
            per_t.setdefault(str(tv), {}).setdefault(cond, {})[name] = cache[key][0]
            per_t_box.setdefault(str(tv), {}).setdefault(cond, {})[name] = cache[key][1]
    out = _mean_over_t(per_t, timesteps)
    out["per_t"] = per_t
    if mask is not None:
        out["mouth"] = _mean_over_t(per_t_box, timesteps)
    return out


def _mean_over_t(per_t: dict, timesteps) -> dict:
    return {cond: {name: sum(per_t[str(tv)][cond][name] for tv in timesteps) / len(timesteps)
                   for name in per_t[str(timesteps[0])][cond]} for cond in ("audio", "text")}

