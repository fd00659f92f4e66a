"""Seconds per clip of the shipped tiny teacher (48 Euler steps, CFG 3) and student (4 steps per 3-frame block,
KV cache) on the same batch of held-out windows, on one machine in one process:

    python scripts/tiny_timing.py --eval /path/eval.pt [--threads 2] [--clips 16]
"""

from __future__ import annotations

import argparse
import time

import torch

from livetalk.distill.data import LatentClips
from livetalk.distill.sample_eval import stream_latents
from livetalk.distill.teacher import sample_teacher
from livetalk.models.checkpoint import load_dit
from livetalk.runtime.tiny import TINY_STUDENT, WEIGHTS

TINY_TEACHER = WEIGHTS / "tiny_teacher.safetensors"


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", required=True, help="latent file of scripts/prep_split.py")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clips", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    batch = LatentClips.load(f"{args.eval}:clean").batch(list(range(args.clips)))
    teacher = load_dit(TINY_TEACHER, preset="tiny", dtype=torch.float32)
    student = load_dit(TINY_STUDENT, preset="tiny", dtype=torch.float32)
    stream_latents(student, batch, seed=0)  # warm-up
    t0 = time.perf_counter()
    stream_latents(student, batch, seed=0)
    ts = (time.perf_counter() - t0) / args.clips
    t0 = time.perf_counter()
    sample_teacher(teacher, batch, steps=48, text_scale=3.0, audio_scale=3.0, generator=torch.Generator().manual_seed(0))
    tt = (time.perf_counter() - t0) / args.clips
    print(f"seconds per clip (batch {args.clips}, {args.threads} threads): teacher {tt:.3f}, student {ts:.4f}, "
          f"ratio {tt / ts:.1f}")


if __name__ == "__main__":
    main()
