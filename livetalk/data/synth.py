"""Write a synthetic dataset folder (manifest + clips/) and measure the generation rate."""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .clip import FPS, Clip, ClipConfig, make_clip
from .dataset import MANIFEST
from .media import write_png, write_video, write_wav


@dataclass
class SynthStats:
    """Generation rate: clips, frames, seconds of wall time, clips/s, frames/s, realtime factor
    (seconds of video produced per wall-clock second)."""

    clips: int
    frames: int
    wall_s: float
    clips_per_s: float
    frames_per_s: float
    realtime_factor: float


def write_clip(root: Path, clip: Clip) -> dict:
    """Write clip files under root/clips/ and return its manifest entry."""
    d = root / "clips"
    d.mkdir(parents=True, exist_ok=True)
    write_png(d / f"{clip.id}.png", clip.reference)
    write_wav(d / f"{clip.id}.wav", clip.audio)
    write_video(d / f"{clip.id}.mp4", clip.frames, FPS, clip.audio)
    np.savez_compressed(d / f"{clip.id}.npz", **clip.tracks)
    return {
        "id": clip.id, "prompt": clip.prompt,
        "image": f"clips/{clip.id}.png", "audio": f"clips/{clip.id}.wav",
        "video": f"clips/{clip.id}.mp4", "tracks": f"clips/{clip.id}.npz",
        "duration_s": clip.duration_s, "fps": FPS,
        "motion": clip.motion, "identity_seed": clip.identity.seed, "text": clip.text,
    }


def _one(args) -> tuple[dict, int]:
    root, seed, cfg = args
    clip = make_clip(seed, cfg)
    return write_clip(Path(root), clip), len(clip.frames)


def synth_dataset(out: str | Path, n: int, cfg: ClipConfig = ClipConfig(), start_seed: int = 0,
                  workers: int = 1) -> SynthStats:
    """Generate clips with seeds start_seed … start_seed+n−1 into `out` (manifest lines in seed order)."""
    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(str(root), start_seed + i, cfg) for i in range(n)]
    t0 = time.perf_counter()
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_one, jobs))
    else:
        results = [_one(j) for j in jobs]
    wall = time.perf_counter() - t0
    with open(root / MANIFEST, "w") as f:
        for entry, _ in results:
            f.write(json.dumps(entry) + "\n")
    frames = sum(k for _, k in results)
    stats = SynthStats(n, frames, wall, n / wall, frames / wall, frames / FPS / wall)
    (root / "synth_stats.json").write_text(json.dumps({**asdict(stats), "config": asdict(cfg)}, indent=2))
    return stats
