"""`livetalk bench stream`: first-frame latency, sustained FPS, real-time factor and jitter of a live session.

The session is pipelined (denoise ∥ decode) and consumed as fast as it produces (throughput). Speech is a
continuous synthetic signal pushed up front, so every block is a speaking block.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class StreamBenchResult:
    preset: str
    decoder: str
    pipelined: bool
    blocks: int
    first_frame_s: float
    sustained_fps: float
    realtime_factor: float  # generation time / playback time of the same frames (< 1: ahead of playback)
    chunk_interval_ms: float
    jitter_ms: float  # std of the interval between chunks
    denoise_ms: float
    decode_ms: float
    random_weights: bool
    decoder_warmup: int | None = None  # re-primed decoding (latent frames of warm-up); None: one continuous decoder


def run_stream_bench(blocks: int = 12, decoder: str = "fast", pipelined: bool = True, random_weights: bool = False,
                     size: int = 64, **cfg) -> StreamBenchResult:
    """`cfg`: RuntimeConfig fields (e.g. `decoder_warmup`; the tiny Performer's defaults otherwise)."""
    from .tiny import tiny_performer

    perf = tiny_performer(random_weights=random_weights, decoder=decoder, pipelined=pipelined, size=size, **cfg)
    rng = np.random.default_rng(0)
    image = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    audio = (0.1 * np.sin(np.arange(16000 * 60) * 2 * np.pi * 180 / 16000) * (1 + rng.random(16000 * 60))).astype(np.float32)
    # warm-up session (first-call allocations), then the measured one
    warm = perf.new_session(image, "A person speaking")
    warm.push_audio(audio[:20000])
    warm.next_chunk()
    warm.close()
    t0 = time.perf_counter()
    session = perf.new_session(image, "A person speaking calmly")
    session.push_audio(audio)
    stamps, frames, den, dec = [], 0, [], []
    first = None
    for _ in range(blocks):
        chunk = session.next_chunk()
        now = time.perf_counter()
        first = first if first is not None else now - t0
        stamps.append(now)
        frames += len(chunk.frames)
        den.append(chunk.stats["denoise_s"])
        dec.append(chunk.stats["decode_s"])
    session.close()
    steady = np.diff(stamps[1:]) if len(stamps) > 2 else np.diff(stamps)
    steady_frames = frames - 9 - (12 if len(stamps) > 2 else 0)
    span = stamps[-1] - (stamps[1] if len(stamps) > 2 else stamps[0])
    fps = steady_frames / span
    return StreamBenchResult(
        preset="tiny", decoder=decoder, pipelined=pipelined, blocks=blocks, first_frame_s=first, sustained_fps=fps,
        realtime_factor=16.0 / fps, chunk_interval_ms=float(np.mean(steady) * 1e3),
        jitter_ms=float(np.std(steady) * 1e3), denoise_ms=statistics.mean(den) * 1e3, decode_ms=statistics.mean(dec) * 1e3,
        random_weights=random_weights, decoder_warmup=perf.cfg.decoder_warmup,
    )


def format_result(r: StreamBenchResult) -> str:
    w = " (random weights)" if r.random_weights else ""
    return (
        f"bench stream  preset={r.preset}{w} decoder={r.decoder} decoder_warmup={r.decoder_warmup} "
        f"pipelined={r.pipelined} blocks={r.blocks}\n"
        f"  first frame      {r.first_frame_s * 1e3:9.1f} ms (session start → first 9 frames)\n"
        f"  sustained fps    {r.sustained_fps:9.1f} (real time = 16)\n"
        f"  real-time factor {r.realtime_factor:9.3f} (< 1: ahead of playback)\n"
        f"  chunk interval   {r.chunk_interval_ms:9.1f} ms ± {r.jitter_ms:.1f} (12 frames = 750 ms of video)\n"
        f"  per block        denoise {r.denoise_ms:.1f} ms, decode {r.decode_ms:.1f} ms"
    )


def main(args) -> int:
    from .commands import decoder_warmup_kwargs

    r = run_stream_bench(args.blocks, args.decoder, not args.sequential, args.random_weights,
                         **decoder_warmup_kwargs(args))
    print(json.dumps(asdict(r)) if args.json else format_result(r))
    return 0


def register(bench_sub) -> None:
    p = bench_sub.add_parser("stream", help="live-session latency, sustained FPS, real-time factor, jitter")
    p.add_argument("--preset", default="tiny", choices=["tiny"])
    p.add_argument("--blocks", type=int, default=12)
    p.add_argument("--decoder", default="fast", choices=["fast", "vae"])
    p.add_argument("--sequential", action="store_true", help="no denoise/decode pipelining")
    p.add_argument("--random-weights", action="store_true", help="untrained models (speed only)")
    p.add_argument("--json", action="store_true")
    from .commands import add_decoder_warmup

    add_decoder_warmup(p)
    p.set_defaults(func=main)
