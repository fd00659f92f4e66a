"""`livetalk bench dit`: time one streaming block of the causal DiT (4 denoising passes + the clean pass).

The cache is first filled to its steady state (sinks + full rolling window), so the timed blocks attend
to as many keys as they will for the rest of an unbounded stream. Random weights: speed does not depend
on the values. Reports ms per block, generated video frames per second (a later block yields 4·3 = 12
pixel frames), the first block's latency from an empty cache, peak memory, and achieved TFLOP/s from an
analytic FLOP count.
"""

from __future__ import annotations

import json
import resource
import statistics
import time
from dataclasses import asdict, dataclass

import torch

from ..diffusion.block_sampler import BlockConditions, denoise_block, refresh_cache
from ..diffusion.schedule import FlowMatchSchedule
from ..models.config import DiTConfig, get_preset
from ..models.dit import build_dit

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class DiTBenchResult:
    preset: str
    device: str
    dtype: str
    resolution: str
    block_frames: int
    steps: int
    ms_per_block: float
    ms_per_block_p90: float
    video_fps: float
    first_block_ms: float
    peak_memory_mb: float
    tflops_per_block: float
    achieved_tflops: float
    threads: int
    compiled: str = ""


def block_flops(cfg: DiTConfig, q_tokens: int, k_tokens: int, text_len: int) -> float:
    """Multiply-add FLOPs (×2) of one forward over `q_tokens` queries attending to `k_tokens` keys."""
    d, ff = cfg.dim, cfg.ffn_dim
    per_layer = (
        2 * q_tokens * d * d * 4  # self q, k, v, o
        + 2 * 2 * q_tokens * k_tokens * d  # QK^T and PV
        + 2 * q_tokens * d * d * 2  # cross q, o (k/v cached)
        + 2 * 2 * q_tokens * text_len * d  # cross attention
        + 2 * 2 * q_tokens * d * ff  # FFN
    )
    return per_layer * cfg.num_layers


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB → MiB (process peak RSS)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_dit_bench(
    preset: str = "tiny",
    device: str = "cpu",
    dtype: str | None = None,
    size: int | None = None,
    iters: int = 10,
    block: int = 3,
    steps: int = 4,
    sink_size: int = 9,
    local_attn_size: int = 15,
    seed: int = 0,
    compile_mode: str | None = None,
    cuda_graph: bool = False,
) -> DiTBenchResult:
    cfg = get_preset(preset)
    dev = torch.device(device)
    dtype = dtype or ("bf16" if dev.type == "cuda" else "fp32")
    tdtype = DTYPES[dtype]
    size = size or (64 if preset.startswith("tiny") else 512)
    lat = size // 8
    torch.manual_seed(seed)
    model = build_dit(cfg, device=dev, dtype=tdtype, seed=seed).eval()
    if compile_mode == "fuse":
        from ..models.dit import fuse_elementwise

        fuse_elementwise()
    elif compile_mode:
        model.compile_blocks(None if compile_mode == "default" else compile_mode)
    schedule = FlowMatchSchedule(steps, 5.0)
    ctx = torch.randn(1, cfg.text_len, cfg.text_dim, device=dev, dtype=tdtype)
    cond = torch.randn(1, block, cfg.in_dim - cfg.latent_channels, lat, lat, device=dev, dtype=tdtype) if cfg.has_cond else None
    audio = torch.randn(1, block, cfg.audio_pack, cfg.audio_dim, device=dev, dtype=tdtype) if cfg.use_audio else None
    conds = BlockConditions(ctx, cond, audio)
    ref = torch.randn(1, cfg.latent_channels, lat, lat, device=dev, dtype=tdtype)
    cache = model.new_cache(1, (lat, lat), sink_size=sink_size, local_attn_size=local_attn_size)
    gen = torch.Generator(device=dev).manual_seed(seed)
    runner = model
    if cuda_graph:
        from .cuda_graph import GraphedDiT

        runner = GraphedDiT(model)

    def one_block(start: int) -> None:
        noise = torch.randn(1, block, cfg.latent_channels, lat, lat, device=dev, dtype=tdtype)
        x0 = denoise_block(runner, cache, noise, start, conds, schedule, ref_latent=ref, generator=gen)
        refresh_cache(runner, cache, x0, start, conds)

    with torch.inference_mode():
        # warm-up + fill the cache to its steady state
        fill = max(local_attn_size, 2 * block) if local_attn_size > 0 else 4 * block
        start = 0
        while start < fill + block:
            one_block(start)
            start += block
        times = []
        for _ in range(iters):
            _sync(dev)
            t0 = time.perf_counter()
            one_block(start)
            _sync(dev)
            times.append(time.perf_counter() - t0)
            start += block
        # first block from an empty cache (includes the cross-attention k/v of the prompt)
        cache.reset()
        _sync(dev)
        t0 = time.perf_counter()
        one_block(0)
        _sync(dev)
        first = time.perf_counter() - t0

    ft = (lat // 2) ** 2
    k_frames = cache.capacity if local_attn_size > 0 else start
    flops = (steps + 1) * block_flops(cfg, block * ft, k_frames * ft, cfg.text_len)
    mean = statistics.mean(times)
    return DiTBenchResult(
        preset=preset, device=str(dev), dtype=dtype, resolution=f"{size}x{size}", block_frames=block, steps=steps,
        ms_per_block=mean * 1e3, ms_per_block_p90=sorted(times)[int(0.9 * (len(times) - 1))] * 1e3,
        video_fps=4 * block / mean, first_block_ms=first * 1e3, peak_memory_mb=_peak_memory_mb(dev),
        tflops_per_block=flops / 1e12, achieved_tflops=flops / mean / 1e12, threads=torch.get_num_threads(),
        compiled=(compile_mode or "") + ("+cuda-graph" if cuda_graph else ""),
    )


def format_result(r: DiTBenchResult) -> str:
    return (
        f"bench dit  preset={r.preset} device={r.device} dtype={r.dtype} {r.resolution} "
        f"block={r.block_frames} latent frames, {r.steps}+1 passes, threads={r.threads}"
        f"{' compiled=' + r.compiled if r.compiled else ''}\n"
        f"  ms/block      {r.ms_per_block:10.2f}  (p90 {r.ms_per_block_p90:.2f})\n"
        f"  video fps     {r.video_fps:10.1f}  (12 pixel frames per block; real time = 16)\n"
        f"  first block   {r.first_block_ms:10.2f} ms\n"
        f"  peak memory   {r.peak_memory_mb:10.1f} MiB\n"
        f"  compute       {r.tflops_per_block:10.4f} TFLOP/block, {r.achieved_tflops:.3f} TFLOP/s achieved"
    )


def main(args) -> int:
    r = run_dit_bench(
        preset=args.preset, device=args.device, dtype=args.dtype, size=args.size, iters=args.iters,
        sink_size=args.sink_size, local_attn_size=args.local_attn_size, compile_mode=args.compile,
        cuda_graph=args.cuda_graph,
    )
    print(json.dumps(asdict(r)) if args.json else format_result(r))
    return 0


def register(bench_sub) -> None:
    p = bench_sub.add_parser("dit", help="time one streaming DiT block (4 denoising passes + clean pass)")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="default: fp32 on CPU, bf16 on CUDA")
    p.add_argument("--size", type=int, default=None, help="square pixel size (default 64 tiny, 512 otherwise)")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--sink-size", type=int, default=9)
    p.add_argument("--local-attn-size", type=int, default=15)
    p.add_argument("--compile", default=None, metavar="MODE",
                   help="fuse (compiled element-wise kernels) | default | max-autotune-no-cudagraphs (whole blocks)")
    p.add_argument("--cuda-graph", action="store_true", help="replay steady-state passes as CUDA graphs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=main)
