"""Full-scale checks on a CUDA machine (random weights, the published 512x512 geometry, bf16).

1. `livetalk bench dit` for livetalk-1.3b (4 denoising passes + the cache-refresh pass per 3-latent-frame block).
2. Streaming with the KV cache vs one block-causal forward at full size (bf16 noise level).
3. Wan2.1 VAE streaming decode of one block (3 latent frames -> 12 frames of 512x512).
4. Optional: the same DiT block with torch.compile on each transformer block.
Writes JSON lines to stdout.
"""

import json
import sys
import time
from dataclasses import asdict

import torch

from livetalk.models.dit import build_dit, pack_audio_frames
from livetalk.runtime.bench_dit import run_dit_bench


def emit(name, **kw):
    print(json.dumps({"check": name, **kw}), flush=True)


def bench(compile_mode=None, cuda_graph=False):
    r = run_dit_bench("livetalk-1.3b", device="cuda", dtype="bf16", iters=10, compile_mode=compile_mode,
                      cuda_graph=cuda_graph)
    emit("bench_dit", **asdict(r), gpu=torch.cuda.get_device_name(), torch=torch.__version__)


def compiled_equivalence(fuse=False):
    torch.manual_seed(0)
    m = build_dit("livetalk-1.3b", device="cuda", dtype=torch.bfloat16, seed=0).eval()
    x = torch.randn(1, 3, 16, 64, 64, device="cuda")
    t = torch.full((1, 3), 624.0, device="cuda")
    ctx = torch.randn(1, 512, 4096, device="cuda")
    cond = torch.randn(1, 3, 17, 64, 64, device="cuda")
    audio = torch.randn(1, 3, 4, m.cfg.audio_dim, device="cuda")
    with torch.inference_mode():
        eager = m(x, t, ctx, cond, audio, kv_cache=m.new_cache(1, (64, 64)), start_frame=0).float()
        if fuse:
            from livetalk.models.dit import fuse_elementwise

            fuse_elementwise()
        else:
            m.compile_blocks()
        comp = m(x, t, ctx, cond, audio, kv_cache=m.new_cache(1, (64, 64)), start_frame=0).float()
    emit("fused_vs_eager_1.3b_bf16" if fuse else "compiled_vs_eager_1.3b_bf16", max_abs=(comp - eager).abs().max().item(),
         rel_l2=((comp - eager).norm() / eager.norm()).item())


def equivalence():
    torch.manual_seed(0)
    m = build_dit("livetalk-1.3b", device="cuda", dtype=torch.bfloat16, seed=0).eval()
    cfg = m.cfg
    f, lat = 6, 64
    x = torch.randn(1, f, 16, lat, lat, device="cuda")
    t = torch.tensor([[1000.0] * 3 + [624.0] * 3], device="cuda")
    ctx = torch.randn(1, 512, 4096, device="cuda")
    ref = torch.randn(1, 1, 16, lat, lat, device="cuda").expand(1, f, 16, lat, lat)
    mask = torch.ones(1, f, 1, lat, lat, device="cuda"); mask[:, 0] = 0
    cond = torch.cat([ref, mask], 2)
    audio = pack_audio_frames(torch.randn(1, 4 * f - 3, cfg.audio_dim, device="cuda"))
    with torch.inference_mode():
        full = m(x, t, ctx, cond, audio, causal_block=3).float()
        cache = m.new_cache(1, (lat, lat), sink_size=0, local_attn_size=-1)
        outs = [m(x[:, s:s + 3], t[:, s:s + 3], ctx, cond[:, s:s + 3], audio[:, s:s + 3], kv_cache=cache,
                  start_frame=s).float() for s in (0, 3)]
    st = torch.cat(outs, 1)
    emit("stream_vs_blockcausal_1.3b_bf16", max_abs=(st - full).abs().max().item(),
         rel_l2=((st - full).norm() / full.norm()).item(), out_std=full.std().item())
    del m


def graph_equivalence():
    from livetalk.diffusion.block_sampler import BlockConditions, denoise_block, refresh_cache
    from livetalk.diffusion.schedule import FlowMatchSchedule
    from livetalk.runtime.cuda_graph import GraphedDiT

    m = build_dit("livetalk-1.3b", device="cuda", dtype=torch.bfloat16, seed=0).eval()
    sched = FlowMatchSchedule(4, 5.0)
    g = torch.Generator(device="cuda").manual_seed(0)
    ctx = torch.randn(1, 512, 4096, device="cuda", generator=g).bfloat16()
    cond = torch.randn(1, 3, 17, 64, 64, device="cuda", generator=g).bfloat16()
    audio = torch.randn(1, 3, 4, 10752, device="cuda", generator=g).bfloat16()
    ref = torch.randn(1, 16, 64, 64, device="cuda", generator=g).bfloat16()
    noises = [torch.randn(1, 3, 16, 64, 64, device="cuda", generator=g).bfloat16() for _ in range(9)]
    outs = {}
    for name, runner in (("eager", m), ("graph", GraphedDiT(m))):
        cache = m.new_cache(1, (64, 64))
        conds = BlockConditions(ctx, cond, audio)
        gen = torch.Generator(device="cuda").manual_seed(1)
        res = []
        with torch.inference_mode():
            for b, nz in enumerate(noises):
                x0 = denoise_block(runner, cache, nz, 3 * b, conds, sched, ref_latent=ref, generator=gen)
                refresh_cache(runner, cache, x0, 3 * b, conds)
                res.append(x0.float())
        outs[name] = torch.cat(res, 1)
        if name == "graph":
            emit("graph_counts", replays=runner.replays, eager=runner.eager_calls)
    d = outs["graph"] - outs["eager"]
    emit("graph_vs_eager_stream_1.3b_bf16", max_abs=d.abs().max().item(),
         rel_l2=(d.norm() / outs["eager"].norm()).item())


def vae_decode():
    from livetalk.models.vae import WanVAE

    vae = WanVAE.from_config(None, device="cuda", dtype=torch.bfloat16)
    z = torch.randn(1, 3, 16, 64, 64, device="cuda", dtype=torch.bfloat16)
    with torch.inference_mode():
        dec = vae.stream_decoder()
        dec.decode_block(z)  # first block (9 frames)
        times = []
        for _ in range(5):
            torch.cuda.synchronize(); t0 = time.perf_counter()
            out = dec.decode_block(z)
            torch.cuda.synchronize(); times.append(time.perf_counter() - t0)
    emit("wan_vae_stream_decode_512", frames=out.shape[1], ms_per_block=1e3 * sum(times) / len(times),
         fps=out.shape[1] / (sum(times) / len(times)), peak_mb=torch.cuda.max_memory_allocated() / 2**20)


if __name__ == "__main__":
    steps = sys.argv[1:] or ["bench", "equivalence", "vae"]
    for s in steps:
        try:
            {"bench": bench, "equivalence": equivalence, "vae": vae_decode,
             "bench_compiled": lambda: bench("default"),
             "bench_fuse": lambda: bench("fuse"),
             "bench_graph": lambda: bench(None, True),
             "bench_fuse_graph": lambda: bench("fuse", True),
             "graph_equivalence": graph_equivalence,
             "bench_autotune": lambda: bench("max-autotune-no-cudagraphs"),
             "compiled_equivalence": compiled_equivalence,
             "fuse_equivalence": lambda: compiled_equivalence(True)}[s]()
        except Exception as err:  # keep going: report what failed
            emit(s, error=repr(err))
        torch.cuda.empty_cache()
