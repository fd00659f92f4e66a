"""Measure how far streaming audio features drift from whole-clip features.

    python -m livetalk.models.audio_drift --wav speech.wav [--encoder tiny|tiny-clip|w2v-random] \
        [--lookahead-ms 0 250 500] [--context-ms 1000 4000] [--chunk 640] [--block-frames 12]

Prints relative L2 (``‖s − w‖ / ‖w‖`` over all frames) and the mean / min per-frame cosine similarity
between the streamed features ``s`` and whole-clip features ``w``. Speech for the doc was made with
``espeak-ng -w out.wav "text"`` (22.05 kHz), loaded with ``load_audio`` (resampled to 16 kHz).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch

from livetalk.models.audio_base import AudioEncoder


@dataclass
class Drift:
    """Streaming vs whole-clip: ``rel_l2`` over the clip, per-frame cosine ``cos_mean`` / ``cos_min``."""

    rel_l2: float
    cos_mean: float
    cos_min: float
    frames: int


def stream_features(encoder: AudioEncoder, wave: torch.Tensor, chunk: int, lookahead_ms: float,
                    context_ms: float, block_frames: int | None = None) -> torch.Tensor:
    """Feed ``wave [N]`` in chunks of ``chunk`` samples; return ``[ceil(N/1000), D]`` streamed features."""
    s = encoder.encode_stream(lookahead_ms=lookahead_ms, context_ms=context_ms)
    s.max_frames_per_call = block_frames
    outs = [s.push(wave[i:i + chunk]) for i in range(0, wave.numel(), chunk)]
    outs.append(s.flush())
    return torch.cat(outs)


def drift(streamed: torch.Tensor, whole: torch.Tensor) -> Drift:
    """Compare ``[T, D]`` feature tensors (float64 maths)."""
    s, w = streamed.double(), whole.double()
    rel = float((s - w).norm() / w.norm().clamp_min(1e-12))
    cos = torch.nn.functional.cosine_similarity(s, w, dim=-1)
    return Drift(rel, float(cos.mean()), float(cos.min()), s.shape[0])


def measure(encoder: AudioEncoder, wave: torch.Tensor, lookahead_ms: float, context_ms: float,
            chunk: int = 640, block_frames: int | None = None) -> Drift:
    """Drift of streaming features against ``encoder.encode(wave)`` for one setting."""
    whole = encoder.encode(wave)
    return drift(stream_features(encoder, wave, chunk, lookahead_ms, context_ms, block_frames), whole)


def _build(name: str) -> AudioEncoder:
    from livetalk.models.audio_logmel import LogMelAudioEncoder
    from livetalk.models.audio_wav2vec import Wav2VecAudioEncoder, wav2vec2_base_config

    if name == "tiny":
        return LogMelAudioEncoder()
    if name == "tiny-clip":
        return LogMelAudioEncoder(normalize="clip")
    if name == "w2v-random":
        torch.manual_seed(0)
        return Wav2VecAudioEncoder(wav2vec2_base_config())
    raise ValueError(name)


def main(argv=None) -> None:
    from livetalk.models.media_io import load_audio

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--wav", required=True)
    p.add_argument("--encoder", default="tiny", choices=["tiny", "tiny-clip", "w2v-random"])
    p.add_argument("--lookahead-ms", type=float, nargs="+", default=[0.75, 62.5, 250.0])
    p.add_argument("--context-ms", type=float, nargs="+", default=[62.5, 1000.0])
    p.add_argument("--chunk", type=int, default=640, help="samples per push (640 = 40 ms)")
    p.add_argument("--block-frames", type=int, default=None, help="max frames per encoder call")
    p.add_argument("--groups", type=int, default=1,
                   help="also report rel_l2 per feature group (14 for wav2vec2: last, h0..h12)")
    a = p.parse_args(argv)
    torch.set_grad_enabled(False)
    wave = torch.from_numpy(load_audio(a.wav))
    enc = _build(a.encoder)
    print(f"encoder={a.encoder} seconds={wave.numel() / 16000:.2f} chunk={a.chunk} block_frames={a.block_frames}")
    print("lookahead_ms context_ms rel_l2 cos_mean cos_min")
    for ctx in a.context_ms:
        for la in a.lookahead_ms:
            whole = enc.encode(wave)
            streamed = stream_features(enc, wave, a.chunk, la, ctx, a.block_frames)
            d = drift(streamed, whole)
            line = f"{la:10.2f} {ctx:10.1f} {d.rel_l2:.4f} {d.cos_mean:.4f} {d.cos_min:.4f}"
            if a.groups > 1:
                per = [drift(s_, w_).rel_l2 for s_, w_ in
                       zip(streamed.chunk(a.groups, -1), whole.chunk(a.groups, -1))]
                line += "  per-group rel_l2: " + " ".join(f"{x:.3f}" for x in per)
            print(line)


if __name__ == "__main__":
    main()
