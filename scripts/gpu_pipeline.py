"""Full-scale streaming pipeline on CUDA (random weights, 512x512, bf16): DiT block (fused element-wise
kernels + CUDA graphs) and Wan2.1 VAE streaming decode, sequential and pipelined (decode of block b on a
second thread/stream while block b+1 is denoised). Prints JSON lines."""
import json
import queue
import threading
import time

import torch

from livetalk.diffusion.block_sampler import BlockConditions, denoise_block, refresh_cache
from livetalk.diffusion.schedule import FlowMatchSchedule
from livetalk.models.dit import build_dit, fuse_elementwise
from livetalk.models.vae import WanVAE
from livetalk.runtime.cuda_graph import GraphedDiT

fuse_elementwise()
dit = build_dit("livetalk-1.3b", device="cuda", dtype=torch.bfloat16, seed=0).eval()
runner = GraphedDiT(dit)
vae = WanVAE.from_config(None, device="cuda", dtype=torch.bfloat16)
sched = FlowMatchSchedule(4, 5.0)
ctx = torch.randn(1, 512, 4096, device="cuda", dtype=torch.bfloat16)
cond = torch.randn(1, 3, 17, 64, 64, device="cuda", dtype=torch.bfloat16)
audio = torch.randn(1, 3, 4, 10752, device="cuda", dtype=torch.bfloat16)
ref = torch.randn(1, 16, 64, 64, device="cuda", dtype=torch.bfloat16)


def session(n_blocks, pipelined):
    cache = dit.new_cache(1, (64, 64))
    dec = vae.stream_decoder()
    conds = BlockConditions(ctx, cond, audio)
    stamps = []
    t0 = time.perf_counter()
    if not pipelined:
        for b in range(n_blocks):
            x0 = denoise_block(runner, cache, torch.randn(1, 3, 16, 64, 64, device="cuda", dtype=torch.bfloat16), 3 * b, conds, sched, ref_latent=ref)
            refresh_cache(runner, cache, x0, 3 * b, conds)
            frames = dec.decode_block(x0)
            torch.cuda.synchronize()
            stamps.append((time.perf_counter() - t0, frames.shape[1]))
        return stamps
    q = queue.Queue(maxsize=2)
    side = torch.cuda.Stream()

    def decode_loop():
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(n_blocks):
                x0, ev = q.get()
                side.wait_event(ev)
                frames = dec.decode_block(x0)
                side.synchronize()
                stamps.append((time.perf_counter() - t0, frames.shape[1]))

    th = threading.Thread(target=decode_loop)
    th.start()
    for b in range(n_blocks):
        x0 = denoise_block(runner, cache, torch.randn(1, 3, 16, 64, 64, device="cuda", dtype=torch.bfloat16), 3 * b, conds, sched, ref_latent=ref)
        refresh_cache(runner, cache, x0, 3 * b, conds)
        ev = torch.cuda.Event()
        ev.record()
        q.put((x0, ev))
    th.join()
    return stamps


with torch.inference_mode():
    session(8, False)  # warm-up: graphs captured, kernels compiled
    for pipelined in (False, True):
        st = session(16, pipelined)
        first = st[0][0]
        steady = [(st[i][0] - st[i - 1][0]) for i in range(6, len(st))]
        frames = sum(n for _, n in st[6:])
        fps = frames / sum(steady)
        print(json.dumps({"pipeline": "pipelined" if pipelined else "sequential", "first_frames_s": round(first, 4),
                          "sustained_fps": round(fps, 2), "ms_per_block": round(1e3 * sum(steady) / len(steady), 1),
                          "jitter_ms": round(1e3 * float(torch.tensor(steady).std()), 1),
                          "gpu": torch.cuda.get_device_name(), "replays": runner.replays}), flush=True)
