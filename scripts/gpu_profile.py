"""Profile one steady-state streaming block of livetalk-1.3b on CUDA (random weights): GPU kernel time vs wall."""
import time

import torch
from torch.profiler import ProfilerActivity, profile

from livetalk.diffusion.block_sampler import BlockConditions, denoise_block, refresh_cache
from livetalk.diffusion.schedule import FlowMatchSchedule
from livetalk.models.dit import build_dit

m = build_dit("livetalk-1.3b", device="cuda", dtype=torch.bfloat16, seed=0).eval()
sched = FlowMatchSchedule(4, 5.0)
ctx = torch.randn(1, 512, 4096, device="cuda", dtype=torch.bfloat16)
cond = torch.randn(1, 3, 17, 64, 64, device="cuda", dtype=torch.bfloat16)
audio = torch.randn(1, 3, 4, 10752, device="cuda", dtype=torch.bfloat16)
conds = BlockConditions(ctx, cond, audio)
cache = m.new_cache(1, (64, 64))
ref = torch.randn(1, 16, 64, 64, device="cuda", dtype=torch.bfloat16)


def block(s):
    x0 = denoise_block(m, cache, torch.randn(1, 3, 16, 64, 64, device="cuda", dtype=torch.bfloat16), s, conds, sched, ref_latent=ref)
    refresh_cache(m, cache, x0, s, conds)


with torch.inference_mode():
    for s in range(0, 24, 3):
        block(s)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        t0 = time.perf_counter()
        block(24)
        torch.cuda.synchronize()
        wall = time.perf_counter() - t0
events = prof.key_averages()
gpu_us = sum(e.self_device_time_total for e in events)
print(f"wall {wall*1e3:.1f} ms, total GPU kernel time {gpu_us/1e3:.1f} ms, cpu ops {sum(e.count for e in events)}")
print(events.table(sort_by="self_device_time_total", row_limit=18, max_name_column_width=60))
