"""Data parallelism for the trainers under torchrun: process group, `parallel.strategy`, full-state checkpoints.

Strategies (`TrainConfig.parallel.strategy`; a single process trains plainly under either):

* `allreduce` (default, right for the tiny preset): every rank holds whole models; after backward every
  gradient is all-reduced (mean). Not DDP: the Self-Forcing rollout calls the generator once per block, plus
  no-grad denoising and cache passes, before one backward, which DDP's one-forward-per-backward reducer rejects.
* `fsdp`: FSDP2 `fully_shard` shards every DiT a stage holds (generator, critic, frozen real score, EMA copy)
  with one layout: a unit per block's cross-attention (the model computes every block's text k/v before the
  first block runs, so `context_kv` is registered as a forward method), a unit per transformer block, then the
  root (patch / text / time / audio embeddings, head). A unit's parameters are all-gathered for each forward
  and freed after it; gradients are reduce-scattered (averaged) in backward. FSDP2 accumulates the gradient of
  a unit that runs several times before one backward and re-gathers it for the recomputation of non-reentrant
  gradient checkpointing, so the rollout and `grad_checkpointing` work unchanged (tests compare one step with
  a single process). The EMA copy is sharded like the generator, so its update is local to each rank.
  `mixed_precision: bf16` (CUDA only): bf16 compute and all-gathers, fp32 master weights, optimizer state and
  gradient reduction (`MixedPrecisionPolicy`); the rollout's KV cache follows `compute_dtype`.

Checkpoints keep the single-process format whatever the strategy: `model_state` / `optim_state` gather full
CPU tensors to rank 0 (optimizer state keyed by parameter index, as `Optimizer.state_dict()`), and
`load_model_state` / `load_optim_state` shard a full state again, so a run resumes under either strategy.

Meta-device init (`parallel.meta_init: true`, with `fsdp`): by default every rank builds (or loads) each model
whole on its device before sharding it — fine for 1.3B (~6 GB per fp32 copy), not for a 14B teacher (56 GB per
fp32 copy, per rank). With `meta_init` every rank builds the DiT on the meta device (no memory) and shards it;
only rank 0 reads the checkpoint, on the CPU, and `shard_from_rank0` broadcasts it tensor by tensor, each rank
keeping its own shard. Device memory per rank is then the shards plus one tensor in flight. (ODE-pair generation
still loads its teacher whole on each rank: inference only, 28 GB for a 14B teacher in bf16.)
"""

from __future__ import annotations

import functools
import os
import warnings

import torch
import torch.distributed as dist
from torch import nn

STRATEGIES = ("allreduce", "fsdp")


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


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def shutdown() -> None:
    """Leave the process group on a normal exit. All ranks meet first, so that none tears down its gloo connections
    while another is still finishing a collective. A torchrun rank should then end with `exit_process`."""
    if dist.is_initialized():
        if world_size() > 1:
            dist.barrier()
        dist.destroy_process_group()


def exit_process(code: int = 0) -> None:
    """End a torchrun rank now, after `shutdown`, without Python's interpreter finalization.

    Why: gloo's worker threads (`ProcessGroupGloo::runLoop`) destroy a finished collective's work object after
    waking the caller, and a work object can hold tensors owned by Python (FSDP's all-gather inputs, kept alive by
    the barrier as prior work). `destroy_process_group` does not join those threads while FSDP modules still hold
    the group, so a worker can reach that decref, which needs the GIL, while the main thread is already in
    `Py_FinalizeEx`; CPython then ends the worker thread with a forced unwind and libstdc++ calls
    `std::terminate` ("terminate called without an active exception", SIGABRT). Seen in 3 of 48 2-process CPU
    runs of the FSDP ODE test's command (0 of 113 with this exit), with a core dump showing exactly that stack
    (PyTorch abandoned an `atexit` fix for the same crash, pytorch/pytorch#179291). `os._exit` skips finalization, so there is nothing to race with; every
    file the trainer writes is closed before it returns, and the standard streams are flushed here.
    """
    import logging
    import sys

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


# ------------------------------------------------------------------------------------------ models
def is_sharded(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def broadcast_parameters(model: nn.Module) -> None:
    """Make every rank start from rank 0's weights (whole models only)."""
    if world_size() == 1:
        return
    for t in list(model.parameters()) + list(model.buffers()):
        dist.broadcast(t.data, src=0)


@functools.lru_cache(maxsize=None)
def _mesh(device_type: str):
    from torch.distributed.device_mesh import init_device_mesh

    return init_device_mesh(device_type, (world_size(),))


def prepare(model: nn.Module, strategy: str = "allreduce", mixed_precision: str = "fp32",
            device: str = "cpu") -> nn.Module:
    """Broadcast rank 0's weights, then shard under `fsdp` (several processes only); returns `model`.

    Call before building the model's optimizer: sharding replaces the parameters by DTensor shards.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"parallel.strategy must be one of {STRATEGIES}, got {strategy!r}")
    broadcast_parameters(model)
    if strategy == "fsdp" and world_size() > 1:
        shard_dit(model, mixed_precision, device)
    return model


def shard_dit(model: nn.Module, mixed_precision: str = "fp32", device: str = "cpu") -> nn.Module:
    """FSDP2 over all ranks: each block's cross-attention, each block, then the root (a `WanDiT`)."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard, register_fsdp_forward_method

    kw = {"mesh": _mesh("cuda" if device.startswith("cuda") else "cpu")}
    if mixed_precision == "bf16":
        if not device.startswith("cuda"):
            raise ValueError("parallel.mixed_precision=bf16 needs CUDA; on CPU FSDP trains in fp32")
        # inputs are cast by the model itself: per-frame modulation e0 and timesteps stay fp32 as without FSDP
        kw["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32,
                                               cast_forward_inputs=False)
        model.compute_dtype = torch.bfloat16
    elif mixed_precision != "fp32":
        raise ValueError(f"parallel.mixed_precision must be fp32 or bf16, got {mixed_precision!r}")
    # Block and cross-attention outputs are views (flatten / transpose) read only by WanDiT.forward, which never
    # writes them in place, so FSDP2's warning about in-place ops on returned views does not apply.
    warnings.filterwarnings("ignore", r"FSDP2-wrapped module \((FSDPDiTBlock|FSDPCrossAttention)\) returned a view")
    for blk in model.blocks:
        fully_shard(blk.cross_attn, **kw)
        register_fsdp_forward_method(blk.cross_attn, "context_kv")  # called by `embed_text`, outside forward
        fully_shard(blk, **kw)
    fully_shard(model, **kw)
    return model


def shard_from_rank0(model: nn.Module, load_whole, mixed_precision: str = "fp32", device: str = "cpu") -> nn.Module:
    """Meta-device init: shard `model` (a `WanDiT` built on the meta device, collective), allocate the shards on
    `device`, and fill them from `load_whole()` — a callable returning the whole model on the CPU, called on rank 0
    only — broadcast tensor by tensor. Returns `model`, sharded, with the weights of rank 0's model."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    shard_dit(model, mixed_precision, device)
    model.to_empty(device=device)
    state = load_whole().state_dict() if is_main() else {}
    set_model_state_dict(model, state, options=_full_options(broadcast_from_rank0=True))
    return model


def compute_dtype(model: nn.Module) -> torch.dtype:
    """dtype a model's forward computes in: bf16 under FSDP mixed precision, else its parameters' dtype."""
    return getattr(model, "compute_dtype", None) or next(model.parameters()).dtype


def average_gradients(model: nn.Module) -> None:
    """All-reduce (mean) every gradient across ranks; no-op in a single process or when FSDP already did."""
    if world_size() == 1 or is_sharded(model):
        return
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(world_size())


def clip_grad_norm(model: nn.Module, max_norm: float) -> float:
    """Clip the (averaged) gradient's global L2 norm to `max_norm`; returns the norm before clipping."""
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)


# -------------------------------------------------------------------------------------- checkpoints
def _full_options(**kw):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kw)


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole `state_dict()`; for a sharded model gathered to CPU on rank 0 ({} elsewhere), collective."""
    if not is_sharded(model):
        return model.state_dict()
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_full_options(cpu_offload=True))


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a whole state dict (every rank passes it); a sharded model keeps its own shard of each tensor."""
    if not is_sharded(model):
        model.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    set_model_state_dict(model, state, options=_full_options())


def _rekey(state: dict, key) -> dict:
    """An optimizer state dict with every parameter key (of "state" and of each group's "params") mapped."""
    return {"state": {key[k]: v for k, v in state["state"].items()},
            "param_groups": [{**g, "params": [key[k] for k in g["params"]]} for g in state["param_groups"]]}


def _optimizer_to_model_index(model: nn.Module, opt: torch.optim.Optimizer) -> dict[int, int]:
    """Position of each optimizer parameter (counted across its groups, as `opt.state_dict()` does) → its
    position in `model.named_parameters()`."""
    where = {id(p): i for i, (_, p) in enumerate(model.named_parameters())}
    return {o: where[id(p)] for o, p in enumerate(p for g in opt.param_groups for p in g["params"])}


def optim_state(model: nn.Module, opt: torch.optim.Optimizer) -> dict:
    """`opt.state_dict()` of an optimizer over `model.parameters()`; for a sharded model gathered to rank 0
    (CPU, {} elsewhere) and re-keyed from parameter names to indices, so the format does not depend on FSDP.

    Indices always count `model.named_parameters()` (not the optimizer's group order), so states saved with
    several parameter groups load under either strategy."""
    if not is_sharded(model):
        return _rekey(opt.state_dict(), _optimizer_to_model_index(model, opt))
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    state = get_optimizer_state_dict(model, opt, options=_full_options(cpu_offload=True))
    if not state:
        return {}
    return _rekey(state, {name: i for i, (name, _) in enumerate(model.named_parameters())})


def load_optim_state(model: nn.Module, opt: torch.optim.Optimizer, state: dict) -> None:
    """Inverse of `optim_state` (every rank passes the whole state)."""
    if not is_sharded(model):
        opt.load_state_dict(_rekey(state, {m: o for o, m in _optimizer_to_model_index(model, opt).items()}))
        return
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    by_name = _rekey(state, [name for name, _ in model.named_parameters()])
    # Parameters that never had a gradient (e.g. the generator's text embedding: the rollout caches its k/v
    # detached) have no Adam state. The loader fills every state with a zero-gradient step first; drop those
    # entries again so that such a parameter starts at step 0 if it ever gets a gradient, as in one process.
    set_optimizer_state_dict(model, opt, by_name, options=_full_options(strict=False))
    for i, p in enumerate(model.parameters()):
        if i not in state["state"]:
            opt.state.pop(p, None)
