"""Two decodes of the same long streams, paired: PSNR by stretch, flicker, block-boundary jumps.

    python scripts/reprime_check.py --reference world_eval LONG.pt [--decoder vae|fast] [--warmup 1] [--first-span 9]
        [--streams 0:40] [--out per_stream.json] [--base SPEC --new SPEC]

By default: continuous vs re-primed decoding of --decoder. `--base` / `--new` name any two decodes, as
`DECODER[=CHECKPOINT][:reprimed]`, DECODER `vae` or `fast` (checkpoint default: the shipped one), e.g.
`--base fast --new fast=candidate.safetensors` (two fast decoders, both continuous) or `--new vae:reprimed`.

LONG.pt is a latent stream file of `scripts/tiny_distill.py --only generate-long` (`{"latents": [N, F, 16, h, w],
"ids"}`, F = 32 latent frames = 125 pixel frames). Each stream is decoded both ways (by default one continuous
decoder and a `RePrimedDecoder`, `livetalk/models/vae_reprime.py`) and scored against the ground truth: PSNR (dB)
over pixel frames 0–32 / 33–64 / 65–96 / 97–124; flicker (mean |second difference| of luma, 0–255) over the whole
stream, frames 1–31 and 32–123; and the boundary ratio (mean |Δluma| between the last frame of a block and the first
of the next, over that inside blocks; ground truth ≈ 1.07). Prints means and paired differences (new − base,
± standard error over streams). `--out` JSON: per stream, "continuous" holds the base decode's scores and "reprimed"
the new one's (the key names of the default comparison; "decodes" names both). docs/vae.md, "Re-primed decoding"
and "A fast decoder that sees the reference", were made with this.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from livetalk.data.dataset import TalkingHeadDataset
from livetalk.eval.metrics.artifacts import flicker, luminance
from livetalk.models.vae import frames_to_video
from livetalk.models.vae_metrics import psnr
from livetalk.models.vae_reprime import FIRST_SPAN, decode_reprimed
from livetalk.models.vae_tiny import load_tiny_fast_decoder, load_tiny_vae

RANGES = [(0, 33), (33, 65), (65, 97), (97, 125)]
COLUMNS = ["psnr 0-32", "psnr 33-64", "psnr 65-96", "psnr 97-124", "flicker", "boundary ratio", "flicker 1-31",
           "flicker 32-123"]


def scores(y: torch.Tensor, video: torch.Tensor) -> list[float]:
    """Decoded `[1, T, 3, H, W]` and ground truth (both in [-1, 1], T ≥ 125) → the COLUMNS."""
    y, video = y[:, :125].clamp(-1, 1), video[:, :125]
    frames = ((y[0].permute(0, 2, 3, 1) + 1) * 127.5).double().numpy()  # [T, H, W, 3], 0–255, not rounded
    d1 = np.abs(np.diff(luminance(frames), axis=0)).mean(axis=(1, 2))  # d1[t] = |y[t+1] − y[t]|
    cross = [t - 1 for t in range(9, 125, 12)]  # block 0 is 9 frames, later blocks 12
    inside = [t for t in range(8, 124) if t not in cross]
    return ([psnr(y[:, a:b], video[:, a:b]) for a, b in RANGES]
            + [flicker(frames), d1[cross].mean() / d1[inside].mean(), flicker(frames[:33]), flicker(frames[31:])])


def decode_fn(spec: str, warmup: int, first_span: int):
    """`DECODER[=CHECKPOINT][:reprimed]` → `latents [1, F, C, h, w] -> pixels`, continuous or re-primed."""
    name, _, mode = spec.partition(":")
    kind, _, path = name.partition("=")
    if kind not in ("vae", "fast") or mode not in ("", "reprimed", "continuous"):
        raise SystemExit(f"bad decode spec {spec!r}: expected vae|fast[=CHECKPOINT][:reprimed]")
    dec = load_tiny_vae(path or None) if kind == "vae" else load_tiny_fast_decoder(path or None)
    if mode == "reprimed":
        return lambda z: decode_reprimed(dec.stream_decoder, z, warmup, first_span=first_span)
    return dec.decode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--reference", required=True, help="world folder of the streamed clips (>= 125 frames)")
    ap.add_argument("--decoder", default="vae", choices=["vae", "fast"])
    ap.add_argument("--base", default="", help="DECODER[=CHECKPOINT][:reprimed] (default: --decoder, continuous)")
    ap.add_argument("--new", default="", help="DECODER[=CHECKPOINT][:reprimed] (default: --decoder, re-primed)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--first-span", type=int, default=FIRST_SPAN)
    ap.add_argument("--streams", default="", help="lo:hi, a slice of the file's streams (default: all)")
    ap.add_argument("--out", default="", help="per-stream scores as JSON")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = decode_fn(args.base or args.decoder, args.warmup, args.first_span)
    new = decode_fn(args.new or f"{args.decoder}:reprimed", args.warmup, args.first_span)
    ref = TalkingHeadDataset(args.reference)
    index = {c: i for i, c in enumerate(ref.ids())}
    data = torch.load(args.file, weights_only=False)
    lo, hi = (int(v) for v in args.streams.split(":")) if args.streams else (0, len(data["ids"]))
    rows = {}
    with torch.no_grad():
        for k in range(lo, hi):
            wid = data["ids"][k]
            video = frames_to_video(ref[index[wid.split("#")[0]]].frames[:125])
            z = data["latents"][k : k + 1].float()
            rows[wid] = {"continuous": scores(base(z), video), "reprimed": scores(new(z), video)}
    c = np.array([r["continuous"] for r in rows.values()])
    r = np.array([r["reprimed"] for r in rows.values()])
    d = r - c
    sem = d.std(0, ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.zeros(d.shape[1])
    names = (args.base or args.decoder, args.new or f"{args.decoder}:reprimed")
    print(f"{len(rows)} streams, base {names[0]}, new {names[1]}, warm-up {args.warmup}, first span {args.first_span}")
    for name, m in (("base", c.mean(0)), ("new", r.mean(0))):
        print(f"{name:11s} " + "  ".join(f"{k} {v:.2f}" for k, v in zip(COLUMNS, m)))
    print("difference  " + "  ".join(f"{k} {m:+.2f} ± {s:.2f}" for k, m, s in zip(COLUMNS, d.mean(0), sem)))
    late = r[:, 7] - c[:, 6]
    print(f"new flicker 32-123 − base flicker 1-31: {late.mean():+.3f} ± "
          f"{late.std(ddof=1) / np.sqrt(len(late)) if len(late) > 1 else 0:.3f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"columns": COLUMNS, "decodes": names, "streams": rows}, f)


if __name__ == "__main__":
    main()
