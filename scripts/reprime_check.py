"""Two decodes of the same long streams, paired: PSNR by stretch, flicker, block-boundary jumps.

    python scripts/reprime_check.py --reference world_eval LONG.pt [--decoder vae|fast] [--warmup 1] [--first-span 9]
        [--streams 0:40] [--out per_stream.json] [--base SPEC|none --new SPEC] [--batch 8]
    python scripts/reprime_check.py --pair A.json:B.json [C.json:D.json ...] [--key reprimed]

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

`--base none` scores the new decode only (half the time; "continuous" is absent from --out). `--batch N` decodes N
streams at once (same numbers, faster). `--pair A.json:B.json` compares two such files of different students on the
same streams instead of decoding anything: A − B per column (key "reprimed" by default), plus the means of the
four stretches ("all") and of frames 65–124, paired over the streams both hold (mean ± standard error).
docs/results.md, "Long rollouts on the unguided lineage" (session 24), was scored this way.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from livetalk.data.dataset import TalkingHeadDataset
from livetalk.eval.metrics.artifacts import flicker, luminance
from livetalk.eval.paired import paired_differences
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


def pair(spec: str, key: str) -> list[str]:
    """`A.json:B.json` (two `--out` files) → printed lines: each file's means and A − B ± s.e. per column, over the
    streams both hold (`livetalk.eval.paired`), with "all" (mean of the four stretches) and "65-124" (of the last
    two) added."""
    a_path, _, b_path = spec.partition(":")
    a, b = (json.load(open(p)) for p in (a_path, b_path))
    if a["columns"] != b["columns"]:
        raise SystemExit(f"{spec}: the two files have different columns")
    common = sorted(set(a["streams"]) & set(b["streams"]))
    if not common:
        raise SystemExit(f"{spec}: the two files share no stream")
    missing = [p for p, f in ((a_path, a), (b_path, b)) if any(key not in f["streams"][i] for i in common)]
    if missing:
        raise SystemExit(f"{spec}: no '{key}' scores in {', '.join(missing)}")
    names = tuple(c.replace("psnr ", "") for c in a["columns"]) + ("all", "65-124")

    def per_stream(f: dict) -> dict[str, dict[str, float]]:
        x = np.array([f["streams"][i][key] for i in common])  # [streams, columns], PSNR stretches first
        x = np.c_[x, x[:, :4].mean(1), x[:, 2:4].mean(1)]
        return {i: dict(zip(names, map(float, row))) for i, row in zip(common, x)}

    x, y = per_stream(a), per_stream(b)
    d = paired_differences(x, y, names)
    mean = lambda rows, n: float(np.mean([r[n] for r in rows.values()]))  # noqa: E731
    return [f"{a_path} - {b_path}: {len(common)} streams, key {key}",
            "A    " + "  ".join(f"{n} {mean(x, n):.2f}" for n in names),
            "B    " + "  ".join(f"{n} {mean(y, n):.2f}" for n in names),
            "A-B  " + "  ".join(f"{n} {d[n]['diff']:+.2f} ± {d[n]['sem']:.2f}" for n in names)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", help="latent stream file (not with --pair)")
    ap.add_argument("--reference", default="", help="world folder of the streamed clips (>= 125 frames)")
    ap.add_argument("--decoder", default="vae", choices=["vae", "fast"])
    ap.add_argument("--base", default="", help="DECODER[=CHECKPOINT][:reprimed] (default: --decoder, continuous)")
    ap.add_argument("--new", default="", help="DECODER[=CHECKPOINT][:reprimed] (default: --decoder, re-primed)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--first-span", type=int, default=FIRST_SPAN)
    ap.add_argument("--streams", default="", help="lo:hi, a slice of the file's streams (default: all)")
    ap.add_argument("--out", default="", help="per-stream scores as JSON")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1, help="streams decoded at once")
    ap.add_argument("--pair", nargs="+", default=None, help="A.json:B.json ...: compare --out files, decode nothing")
    ap.add_argument("--key", default="reprimed", help="--pair: which decode's scores (reprimed or continuous)")
    args = ap.parse_args()
    if args.pair:
        for spec in args.pair:
            print("\n".join(pair(spec, args.key)))
        return
    if not args.file or not args.reference:
        ap.error("a stream file and --reference are needed (or --pair)")
    if args.batch < 1:
        ap.error("--batch must be >= 1")
    torch.set_num_threads(args.threads)
    base = None if args.base == "none" else decode_fn(args.base or args.decoder, args.warmup, args.first_span)
    new = decode_fn(args.new or f"{args.decoder}:reprimed", args.warmup, args.first_span)
    ref = TalkingHeadDataset(args.reference)
    index = {c: i for i, c in enumerate(ref.ids())}
    data = torch.load(args.file, weights_only=False)
    lo, hi = (int(v) for v in args.streams.split(":")) if args.streams else (0, len(data["ids"]))
    rows = {}
    with torch.no_grad():
        for s in range(lo, hi, args.batch):
            z = data["latents"][s : min(s + args.batch, hi)].float()  # [b, F, C, h, w]
            yb, yn = (None if base is None else base(z)), new(z)  # [b, T, 3, H, W]
            for j in range(z.shape[0]):
                wid = data["ids"][s + j]
                video = frames_to_video(ref[index[wid.split("#")[0]]].frames[:125])
                rows[wid] = {"reprimed": scores(yn[j : j + 1], video)}
                if yb is not None:
                    rows[wid]["continuous"] = scores(yb[j : j + 1], video)
    r = np.array([r["reprimed"] for r in rows.values()])
    names = (args.base or args.decoder, args.new or f"{args.decoder}:reprimed")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"columns": COLUMNS, "decodes": names, "streams": rows}, f)
    if base is None:
        print(f"{len(rows)} streams, {names[1]}, warm-up {args.warmup}, first span {args.first_span}")
        print(f"{'new':11s} " + "  ".join(f"{k} {v:.2f}" for k, v in zip(COLUMNS, r.mean(0))))
        return
    c = np.array([r["continuous"] for r in rows.values()])
    d = r - c
    sem = d.std(0, ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.zeros(d.shape[1])
    print(f"{len(rows)} streams, base {names[0]}, new {names[1]}, warm-up {args.warmup}, first span {args.first_span}")
    for name, m in (("base", c.mean(0)), ("new", r.mean(0))):
        print(f"{name:11s} " + "  ".join(f"{k} {v:.2f}" for k, v in zip(COLUMNS, m)))
    print("difference  " + "  ".join(f"{k} {m:+.2f} ± {s:.2f}" for k, m, s in zip(COLUMNS, d.mean(0), sem)))
    late = r[:, 7] - c[:, 6]
    print(f"new flicker 32-123 − base flicker 1-31: {late.mean():+.3f} ± "
          f"{late.std(ddof=1) / np.sqrt(len(late)) if len(late) > 1 else 0:.3f}")


if __name__ == "__main__":
    main()
