"""Data parallelism for the trainers: `torchrun` environment → process group, gradient averaging.

Gradients are averaged with an explicit all-reduce after backward instead of wrapping models in DDP: the
Self-Forcing rollout calls the generator many times per backward (one exit step per block), which DDP's
one-forward-per-backward reducer does not support. For the tiny preset this is as fast as DDP; sharding the
1.3B / 14B models with FSDP is not implemented yet (see docs/distillation.md).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_from_env(device: str) -> tuple[int, int]:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); returns (rank, world_size)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
        if device.startswith("cuda"):
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return rank(), world_size()


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def average_gradients(model: torch.nn.Module) -> None:
    """All-reduce (mean) every gradient across ranks; no-op in a single process."""
    if world_size() == 1:
        return
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(world_size())


def broadcast_parameters(model: torch.nn.Module) -> None:
    """Make every rank start from rank 0's weights."""
    if world_size() == 1:
        return
    for t in list(model.parameters()) + list(model.buffers()):
        dist.broadcast(t.data, src=0)


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
