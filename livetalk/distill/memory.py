"""How much memory one Self-Forcing generator rollout needs, with and without gradient checkpointing.

`LiveBytes` is a dispatch mode that counts the bytes of every tensor storage created under it while the storage
is alive (so tensors held for backward count, temporaries count until freed) and the peak of that count.
Under `FakeTensorMode` nothing is allocated or computed, so `rollout_memory` can size the published
`livetalk-1.3b` at 512×512 on a laptop: the numbers are exact byte counts of the tensors PyTorch would
create, not a measurement of an allocator (no fragmentation, no kernel workspaces, no CUDA context).

`rollout_memory` builds the student (weights are not counted), rolls out a clip block by block with the KV
cache exactly as the DMD stage does (`self_forcing_rollout`, gradients through each block's exit step), takes
a scalar loss and runs backward. Reported in bytes:
  held_after_forward   everything alive when backward starts (the KV cache, the rollout, and the tensors autograd
                       holds for backward: the activations)
  peak                 the most alive at any moment of forward + backward (parameter gradients included)
"""

from __future__ import annotations

import time
import weakref
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveBytes(TorchDispatchMode):
    """Counts live bytes of the storages created by ops under this mode (`current`, `peak`)."""

    def __init__(self):
        super().__init__()
        self.current = 0
        self.peak = 0
        self._seen: set[int] = set()

    def _release(self, key: int, nbytes: int) -> None:
        self._seen.discard(key)
        self.current -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            st = t.untyped_storage()
            key = id(st)
            if key in self._seen:
                continue  # a view, or an in-place op on a tracked storage
            try:
                weakref.finalize(st, self._release, key, st.nbytes())
            except TypeError:  # storage without weak references: cannot tell when it dies, so do not count it
                continue
            self._seen.add(key)
            self.current += st.nbytes()
            self.peak = max(self.peak, self.current)
        return out


@dataclass
class RolloutMemory:
    preset: str
    dtype: str
    latent_size: int
    latent_frames: int
    batch: int
    exit_index: int
    grad_checkpointing: bool
    held_after_forward: int
    peak: int
    weights: int
    seconds: float | None = None  # wall time of forward + backward (real tensors only)

    def row(self) -> dict:
        gib = 2.0**30
        d = asdict(self)
        d.update(held_after_forward_gib=round(self.held_after_forward / gib, 3), peak_gib=round(self.peak / gib, 3),
                 weights_gib=round(self.weights / gib, 3))
        return d


def rollout_memory(
    preset: str,
    *,
    latent_size: int,
    latent_frames: int,
    batch: int = 1,
    exit_index: int = 3,
    grad_checkpointing: bool,
    dtype: torch.dtype = torch.bfloat16,
    fake: bool = True,
    sink_size: int = 0,
    local_attn_size: int = -1,
) -> RolloutMemory:
    """Bytes held and peak for one generator rollout + backward of `preset` (see module docstring).

    latent_size: latent H = W (512×512 pixels → 64); latent_frames: clip length (published training: 21);
    exit_index: the denoising step with gradients (3 = the last of 4, the most passes before it);
    fake: under `FakeTensorMode` (no memory, no compute); False runs for real on the CPU, random weights (tests
        compare the two), and times forward + backward once more without the counter (`seconds`).
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    from ..diffusion.schedule import FlowMatchSchedule
    from ..models.config import get_preset
    from ..models.dit import WanDiT, build_dit
    from .batch import random_batch
    from .dmd import self_forcing_rollout

    cfg = get_preset(preset)
    mode = FakeTensorMode(allow_non_fake_inputs=False) if fake else None
    with mode if mode is not None else nullcontext():
        if fake:  # built in `dtype` directly: converting fake parameters afterwards is not supported
            default = torch.get_default_dtype()
            torch.set_default_dtype(dtype)
            try:
                model = WanDiT(cfg)
            finally:
                torch.set_default_dtype(default)
        else:
            model = build_dit(cfg, seed=0, dtype=dtype)
        model.gradient_checkpointing = grad_checkpointing
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        b = random_batch(cfg, batch=batch, frames=latent_frames, lat=latent_size)
        b = b.to("cpu", dtype)
        schedule = FlowMatchSchedule(1000, 5.0)

        def step(counter: LiveBytes | None) -> int:
            """Rollout + backward; returns the bytes `counter` holds when backward starts (0 without one)."""
            video = self_forcing_rollout(model, b, schedule, exit_index=exit_index, sink_size=sink_size,
                                         local_attn_size=local_attn_size)
            held = counter.current if counter is not None else 0
            video.float().square().mean().backward()
            return held

        with LiveBytes() as counter:
            held = step(counter)
        peak = counter.peak
        seconds = None
        if not fake:  # timed again without the counter (its per-op bookkeeping is Python)
            start = time.perf_counter()
            step(None)
            seconds = time.perf_counter() - start
    return RolloutMemory(preset, str(dtype).removeprefix("torch."), latent_size, latent_frames, batch,
                         exit_index, grad_checkpointing, held, peak, weights, seconds)
