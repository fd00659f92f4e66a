"""The still-reference baseline and latent motion (docs/results.md, session 30).

`make`: the clip's reference image held still for every frame, VAE-encoded like the eval latents, frame 0 the eval
file's (curated) reference latent → a latent file in the format of `tiny_distill.py generate` (`gen_static.pt` for
9-frame windows, `long_static.pt` for long clips), to score with `scripts/tiny_eval.py` / `scripts/reprime_check.py`
beside the models. A baseline that does not move: any metric it wins cannot see motion.

`motion`: for latent files `[N, F, 16, h, w]` and the eval file's ground truth, by stretch of latent frames
(1–8, 9–16, 17–24, 25–F; frame 0 is the reference): mean |x[t+1] − x[t]| (latent motion) and mean squared error to
the ground-truth latents.

    python scripts/still_baseline.py make --eval DATA/eval2.pt --world DATA/world_eval2 --out RUN/gen_static.pt
    python scripts/still_baseline.py motion --eval DATA/eval_long2.pt NAME=FILE [NAME=FILE ...]
    python scripts/still_baseline.py pixel-motion --world DATA/world_eval2 NAME=VIDEO_DIR [NAME=VIDEO_DIR ...]

`pixel-motion`: mean |frame[t+1] − frame[t]| (uint8 units) over pixel frames 0–32 of decoded eval windows
(`VIDEO_DIR/<clip id>.mp4`), whole frame and mouth box, beside the raw world's.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from livetalk.distill.data import LatentClips

STRETCHES = [(1, 9), (9, 17), (17, 25), (25, None)]


def make(eval_path: str, world: str, out: str) -> None:
    from livetalk.data.dataset import TalkingHeadDataset
    from livetalk.models.vae import frames_to_video, pixel_frames
    from livetalk.models.vae_tiny import load_tiny_vae

    data = LatentClips.load(f"{eval_path}:curated")
    ds = TalkingHeadDataset(world, load_tracks=False)
    by_id = {ds[i].id: i for i in range(len(ds))}
    vae = load_tiny_vae(None)
    n_pix = pixel_frames(data.latents.shape[1])
    out_lat = []
    with torch.no_grad():
        for k, clip_id in enumerate(data.ids):
            ref_image = ds[by_id[clip_id.split("#")[0]]].reference
            lat = vae.encode(frames_to_video(np.repeat(ref_image[None], n_pix, 0)))[0]  # [F, 16, h, w]
            lat[0] = data.ref[k]
            out_lat.append(lat.half())
    torch.save({"latents": torch.stack(out_lat), "ids": data.ids,
                "timing": {"nfe_per_clip": 0, "seconds_per_clip_batched": 0.0, "role": "still reference"}}, out)
    print(f"wrote {out}: {len(out_lat)} clips x {n_pix} frames of the reference held still")


def motion(eval_path: str, files: list[str]) -> None:
    truth = LatentClips.load(f"{eval_path}:curated").latents.float()
    f = truth.shape[1]
    spans = [(a, min(b or f, f)) for a, b in STRETCHES if a < f - 1]
    head = " / ".join(f"{a}-{b - 1}" for a, b in spans)
    print(f"latent frames {head}: motion = mean |x[t+1] - x[t]|, mse = to the ground-truth latents")
    rows = [("ground truth", eval_path, truth)]
    for spec in files:
        name, _, path = spec.partition("=")
        rows.append((name, path, torch.load(path, map_location="cpu", weights_only=False)["latents"].float()))
    for name, path, x in rows:
        if x.shape != truth.shape:
            raise ValueError(f"{path}: latents {tuple(x.shape)}, ground truth {tuple(truth.shape)}")
        mot = [(x[:, a + 1 : b] - x[:, a : b - 1]).abs().mean().item() for a, b in spans]
        err = [((x[:, a:b] - truth[:, a:b]) ** 2).mean().item() for a, b in spans]
        print(f"{name:24s} motion {' / '.join(f'{v:.3f}' for v in mot)}   mse {' / '.join(f'{v:.3f}' for v in err)}")


def pixel_motion(world: str, dirs: list[str]) -> None:
    from livetalk.data.dataset import TalkingHeadDataset
    from livetalk.data.media import read_video
    from livetalk.distill.config import TrainConfig

    top, bottom, left, right = TrainConfig().mouth_box  # fractions of the frame
    ds = TalkingHeadDataset(world, load_tracks=False)
    for spec in ["raw world="] + dirs:
        name, _, folder = spec.partition("=")
        whole, mouth = [], []
        for i in range(len(ds)):
            s = ds[i]
            v = s.frames[:33] if not folder else read_video(f"{folder}/{s.id}.mp4")[0][:33]
            d = np.abs(np.diff(v.astype(np.float32), axis=0))
            h, w = d.shape[1:3]
            whole.append(d.mean())
            mouth.append(d[:, int(top * h) : int(bottom * h), int(left * w) : int(right * w)].mean())
        print(f"{name:24s} pixel motion {np.mean(whole):.3f}   mouth box {np.mean(mouth):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--eval", required=True)
    m.add_argument("--world", required=True)
    m.add_argument("--out", required=True)
    s = sub.add_parser("motion")
    s.add_argument("--eval", required=True)
    s.add_argument("files", nargs="+", help="NAME=latent file")
    p = sub.add_parser("pixel-motion")
    p.add_argument("--world", required=True)
    p.add_argument("dirs", nargs="+", help="NAME=folder of decoded windows")
    args = ap.parse_args()
    if args.cmd == "make":
        make(args.eval, args.world, args.out)
    elif args.cmd == "motion":
        motion(args.eval, args.files)
    else:
        pixel_motion(args.world, args.dirs)


if __name__ == "__main__":
    main()
