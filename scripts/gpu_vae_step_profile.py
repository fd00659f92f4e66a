"""Where a mouth-delta VAE training step spends its time on a GPU (session 36: VMG ran at 0.47 s a step on an
H200, batch 8 pairs of 65-frame windows, far from compute-bound).

    python3 scripts/gpu_vae_step_profile.py [--device cuda] [--frames 65] [--batch 8] [--world runs/gpu_world]

Times, per step (median of --steps after 2 warm-ups): drawing the batch from a WorldPairBank of 16 clips, then
the forward + backward + optimizer step of the shipped tiny VAE on random data of the same shape, as is (fp32),
with cudnn.benchmark, and under bf16 autocast. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from livetalk.models.vae_mouth_pairs import WorldPairBank, mouth_delta_loss
from livetalk.models.vae_tiny import load_tiny_vae


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _time(fn, steps: int, device: str) -> float:
    for _ in range(2):
        fn()
    _sync(device)
    ts = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        _sync(device)
        ts.append(time.perf_counter() - t)
    return round(statistics.median(ts), 4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--frames", type=int, default=65)
    ap.add_argument("--batch", type=int, default=8, help="pairs per step (2× clips through the VAE)")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--world", default="runs/gpu_world")
    ap.add_argument("--bank-clips", type=int, default=16)
    args = ap.parse_args()
    out: dict = {"device": args.device, "frames": args.frames, "pairs": args.batch}
    bank = WorldPairBank(args.world, args.size, max_clips=args.bank_clips, workers=min(8, args.bank_clips))
    g = torch.Generator().manual_seed(0)
    out["sample_s"] = _time(lambda: torch.cat(bank.sample_pairs(args.batch, args.frames, g)).to(args.device), args.steps, "cpu")

    vae = load_tiny_vae(None, device=args.device)
    vae.train()
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-5)
    x = torch.rand(2 * args.batch, args.frames, 3, args.size, args.size, device=args.device) * 2 - 1
    n = args.batch

    def step(autocast: bool = False) -> None:
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=autocast):
            mu, logvar = vae.encode_moments(x)
            y = vae.decode_raw(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))
            loss = (y.float() - x).pow(2).mean() + mouth_delta_loss(y[:n].float(), y[n:].float(), x[:n], x[n:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    out["step_fp32_s"] = _time(step, args.steps, args.device)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
        out["step_fp32_cudnn_benchmark_s"] = _time(step, args.steps, args.device)
        out["step_bf16_autocast_s"] = _time(lambda: step(True), args.steps, args.device)
        try:  # the profiler's names move between torch versions: never lose the timings above to it
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                                    torch.profiler.ProfilerActivity.CUDA]) as prof:
                step()
                _sync(args.device)
            ev = prof.key_averages()
            print(ev.table(sort_by="self_device_time_total", row_limit=15))
            out["kernel_launches"] = int(sum(e.count for e in ev if "LaunchKernel" in e.key))
            out["cuda_time_total_ms"] = round(sum(getattr(e, "self_device_time_total", 0) for e in ev) / 1e3, 1)
        except Exception as e:  # noqa: BLE001
            out["profile_error"] = repr(e)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
