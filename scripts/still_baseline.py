"""The still-reference baseline and latent motion (docs/results.md, session 30).

`make`: the clip's reference image held still for every frame, VAE-encoded like the eval latents, frame 0 the eval
file's (curated) reference latent → a latent file in the format of `tiny_distill.py generate` (`gen_static.pt` for
9-frame windows, `long_static.pt` for long clips), to score with `scripts/tiny_eval.py` / `scripts/reprime_check.py`
beside the models. A baseline that does not move: any metric it wins cannot see motion.

`motion`: for latent files `[N, F, 16, h, w]` and the eval file's ground truth, by stretch of latent frames
(1–8, 9–16, 17–24, 25–F; frame 0 is the reference): mean |x[t+1] − x[t]| (latent motion) and mean squared error to
the ground-truth latents.

    python scripts/still_baseline.py make --eval DATA/eval2.pt --world DATA/world_eval2 --out RUN/gen_static.pt
    python scripts/still_baseline.py windowed --eval DATA/eval_long2.pt --world DATA/world_eval2 --out RUN/long_windowed.pt
    python scripts/still_baseline.py motion --eval DATA/eval_long2.pt [--truth RUN/long_windowed.pt] NAME=FILE ...
    python scripts/still_baseline.py pixel-motion --world DATA/world_eval2 NAME=VIDEO_DIR [NAME=VIDEO_DIR ...]

`windowed`: the eval clips' ground truth encoded window by window (33-frame windows sharing one frame,
`livetalk.models.vae_long_decoder.window_latents`), the way every training window is encoded, instead of the eval
file's one continuous encode, whose latents past the encoder's trained range (~33-49 frames) are off-distribution
(docs/vae.md, "Both halves drift"). Same format as `make`; latent frame 0 is the eval file's, 1-8 equal the continuous encode. Use it as
`motion --truth`, and score it in pixels like a model (the long-stream ceiling of what a student trained on such
windows can make).

`error-split`: each decoded window's squared error to the raw world over pixel frames 1–32 (0–255 units), split
into its static part (the error's mean over time, per pixel: a wrong appearance, or a pose held away from the
window's mean pose) and its dynamic part (what is left: motion that is wrong, missing or extra, and flicker), whole
frame and mouth box. A still image's dynamic error is the world's own motion about its mean; a model that loses to
it in PSNR shows here whether it loses on appearance or on motion.

    python scripts/still_baseline.py error-split --world DATA/world_eval2 NAME=VIDEO_DIR [NAME=VIDEO_DIR ...]

`NAME=DIR_A,DIR_B` gives two samples of one model with the same conditions and other noise (`tiny_distill.py
--noise-seed`): its row is their mean, and its static part is split into the seed variance of one sample (half the
mean squared difference of the two samples' time means) and the bias² (the static error of the mean sample, what is
left). A still image has no variance, so a model whose bias² equals the still's static error is as close on average
and loses only by drawing a different appearance or pose each time.

With `--eval FILE` only the clips of that latent file's windows are scored (all must be first windows, `ID#0`), e.g.
held-in windows cut from a training world.

`departure`: how far, and which way, each model's time-mean frame leaves the still reference's, beside the truth's
(cosine of the two departures: 0 when the model departs in a direction the truth does not take).

    python scripts/still_baseline.py departure --world DATA/world_eval2 --still STILL_DIR NAME=VIDEO_DIR ...

`pixel-motion`: mean |frame[t+1] − frame[t]| (uint8 units) over pixel frames 0–32 of decoded eval windows
(`VIDEO_DIR/<clip id>.mp4`), whole frame and mouth box, beside the raw world's.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from livetalk.distill.data import LatentClips

STRETCHES = [(1, 9), (9, 17), (17, 25), (25, None)]


def _eval_clips(eval_path: str, world: str, variant: str = "curated", vae_path: str | None = None):
    """The eval file's clips under `variant`'s conditions, the world they come from, the tiny VAE (`vae_path`, default
    the shipped one: it must be the one that encoded the eval file) and the
    clips' pixel length: `(data, frames_of(k) -> uint8 [n_pix, H, W, 3] of clip k's window, reference_of(k) ->
    [H, W, 3] the variant's reference image (as `prepare_latents` made it), vae, n_pix)`."""
    from livetalk.data.dataset import TalkingHeadDataset
    from livetalk.distill.prepare import _variant_conditions
    from livetalk.models.vae import pixel_frames
    from livetalk.models.vae_tiny import load_tiny_vae

    data = LatentClips.load(f"{eval_path}:{variant}")
    raw = torch.load(eval_path, map_location="cpu", weights_only=False)
    if raw.get("encode", "window") != "window":
        raise ValueError(f"{eval_path} was made with --encode clip: its windows are not encoded on their own")
    ds = TalkingHeadDataset(world, load_tracks=False)
    by_id = {c: i for i, c in enumerate(ds.ids())}  # from the manifest, without reading every clip
    n_pix = pixel_frames(data.latents.shape[1])

    def sample(k: int):
        return ds[by_id[data.ids[k].split("#")[0]]]

    def reference_of(k: int) -> np.ndarray:
        i = by_id[data.ids[k].split("#")[0]]  # prepare_latents degrades by the clip's index in the world
        s = ds[i]
        return _variant_conditions(s.reference, s.prompt, i, variant, float(raw.get("degrade", 0.0)), {})[0]

    def frames_of(k: int) -> np.ndarray:
        a = int(data.ids[k].partition("#")[2] or 0) * n_pix  # window w of a clip starts at pixel frame w·n_pix
        frames = sample(k).frames[a : a + n_pix]
        if len(frames) < n_pix:
            raise ValueError(f"{data.ids[k]}: {len(frames)} frames from {a}, need {n_pix}")
        return frames

    return data, frames_of, reference_of, load_tiny_vae(vae_path), n_pix


def make(eval_path: str, world: str, out: str, variant: str = "curated", vae_path: str | None = None) -> None:
    from livetalk.models.vae import frames_to_video

    data, _, reference_of, vae, n_pix = _eval_clips(eval_path, world, variant, vae_path)
    out_lat, worst, still = [], 0.0, {}
    with torch.no_grad():
        for k in range(len(data)):
            clip = data.ids[k].split("#")[0]  # the reference is the clip's: its windows share one encode
            if clip not in still:
                still[clip] = vae.encode(frames_to_video(np.repeat(reference_of(k)[None], n_pix, 0)))[0]
            lat = still[clip].clone()  # [F, 16, h, w]
            worst = max(worst, (lat[0] - data.ref[k]).abs().max().item())
            lat[0] = data.ref[k]
            out_lat.append(lat.half())
    if worst > 0.05:
        raise ValueError(f"the {variant} reference images re-made here encode up to {worst:.3f} away from "
                         f"{eval_path}'s: another world, degrade fraction or VAE")
    torch.save({"latents": torch.stack(out_lat), "ids": data.ids,
                "timing": {"nfe_per_clip": 0, "seconds_per_clip_batched": 0.0, "role": "still reference",
                           "variant": variant}}, out)
    print(f"wrote {out}: {len(out_lat)} clips x {n_pix} frames of the {variant} reference held still")


def windowed(eval_path: str, world: str, out: str, vae_path: str | None = None) -> None:
    from livetalk.models.vae import frames_to_video
    from livetalk.models.vae_long_decoder import window_latents

    data, frames_of, _, vae, n_pix = _eval_clips(eval_path, world, vae_path=vae_path)
    out_lat, worst = [], 0.0
    with torch.no_grad():
        for k in range(len(data)):
            lat = window_latents(vae, frames_to_video(frames_of(k)))[0]  # [F, 16, h, w]
            worst = max(worst, (lat[1:9] - data.latents[k, 1:9].float()).abs().max().item())
            lat[0] = data.latents[k, 0]  # the variant's frame 0 (curated: the repaired reference), as the eval file
            out_lat.append(lat.half())
    if worst > 0.05:
        raise ValueError(f"latent frames 1-8 differ from {eval_path}'s by up to {worst:.3f}: the clips do not line "
                         "up (window start, or another VAE)")
    torch.save({"latents": torch.stack(out_lat), "ids": data.ids,
                "timing": {"nfe_per_clip": 0, "seconds_per_clip_batched": 0.0, "role": "truth, windowed encode"}}, out)
    print(f"wrote {out}: {len(out_lat)} clips x {n_pix} frames encoded window by window "
          f"(frames 1-8 within {worst:.1e} of the continuous encode)")


def motion(eval_path: str, files: list[str], truth_path: str = "") -> None:
    data = LatentClips.load(f"{eval_path}:curated")
    truth = data.latents.float()
    if truth_path:
        other = torch.load(truth_path, map_location="cpu", weights_only=False)
        if list(other["ids"]) != list(data.ids):
            raise ValueError(f"{truth_path} holds other clips than {eval_path}")
        truth = other["latents"].float()
    f = truth.shape[1]
    spans = [(a, min(b or f, f)) for a, b in STRETCHES if a < f - 1]
    head = " / ".join(f"{a}-{b - 1}" for a, b in spans)
    print(f"latent frames {head}: motion = mean |x[t+1] - x[t]|, mse = to the ground-truth latents")
    rows = [("ground truth", truth_path or eval_path, truth)]
    if truth_path:
        rows.append(("continuous encode", eval_path, data.latents.float()))
    for spec in files:
        name, _, path = spec.partition("=")
        rows.append((name, path, torch.load(path, map_location="cpu", weights_only=False)["latents"].float()))
    for name, path, x in rows:
        if x.shape != truth.shape:
            raise ValueError(f"{path}: latents {tuple(x.shape)}, ground truth {tuple(truth.shape)}")
        mot = [(x[:, a + 1 : b] - x[:, a : b - 1]).abs().mean().item() for a, b in spans]
        err = [((x[:, a:b] - truth[:, a:b]) ** 2).mean().item() for a, b in spans]
        print(f"{name:24s} motion {' / '.join(f'{v:.3f}' for v in mot)}   mse {' / '.join(f'{v:.3f}' for v in err)}")


def _mouth_box(h: int, w: int) -> tuple[slice, slice]:
    """Rows and columns of `TrainConfig.mouth_box` (fractions of the frame) in an `h × w` frame."""
    from livetalk.distill.config import TrainConfig

    top, bottom, left, right = TrainConfig().mouth_box
    return slice(int(top * h), int(bottom * h)), slice(int(left * w), int(right * w))


def pixel_motion(world: str, dirs: list[str]) -> None:
    from livetalk.data.dataset import TalkingHeadDataset
    from livetalk.data.media import read_video

    ds = TalkingHeadDataset(world, load_tracks=False)
    for spec in ["raw world="] + dirs:
        name, _, folder = spec.partition("=")
        whole, mouth = [], []
        for c in ds.ids():  # the world's clips are read only for its own row
            v = ds.by_id(c).frames[:33] if not folder else read_video(f"{folder}/{c}.mp4")[0][:33]
            d = np.abs(np.diff(v.astype(np.float32), axis=0))
            whole.append(d.mean())
            mouth.append(d[(slice(None), *_mouth_box(*d.shape[1:3]))].mean())
        print(f"{name:24s} pixel motion {np.mean(whole):.3f}   mouth box {np.mean(mouth):.3f}")


def _window_clip_ids(eval_path: str) -> list[str]:
    """The clip ids of a latent file's windows, which must all be first windows (`ID#0`, starting at pixel frame 0)."""
    ids = torch.load(eval_path, weights_only=False)["ids"]
    bad = [i for i in ids if not i.endswith("#0")]
    if bad:
        raise SystemExit(f"error-split --eval: {len(bad)} windows of {eval_path} do not start at frame 0 "
                         f"(e.g. {bad[0]}); keep only '#0' windows")
    return [i[:-2] for i in ids]


def error_split(world: str, dirs: list[str], eval_path: str = "") -> None:
    from livetalk.data.dataset import TalkingHeadDataset
    from livetalk.data.media import read_video

    ds = TalkingHeadDataset(world, load_tracks=False)
    clip_ids = ds.ids()
    if eval_path:  # only the clips of these windows (e.g. a subset of a training world)
        wanted = _window_clip_ids(eval_path)
        known = set(clip_ids)
        missing = [c for c in wanted if c not in known]
        if missing:
            raise SystemExit(f"error-split --eval: {len(missing)} clips of {eval_path} are not in {world} "
                             f"(e.g. {missing[0]})")
        clip_ids = wanted
    truth = {c: ds.by_id(c).frames[1:33] for c in clip_ids}  # read once, shared by every arm: [T, H, W, 3] uint8
    print("squared error to the raw world, pixel frames 1-32 (0-255 units): total = static + dynamic "
          "(whole frame | mouth box)")
    per_arm = {}
    for spec in dirs:
        name, _, folders = spec.partition("=")
        folders = folders.split(",")
        if len(folders) > 2:
            raise SystemExit(f"error-split: {name} names {len(folders)} folders; give one, or two samples A,B")
        parts, spread = [], []  # per clip: static, dynamic, mouth static, mouth dynamic (mean over the samples)
        for c in clip_ids:
            split, means = [], []
            for folder in folders:
                v = read_video(f"{folder}/{c}.mp4")[0][1:33].astype(np.float64)
                r = v - truth[c].astype(np.float64)  # [T, H, W, 3]
                static = r.mean(0, keepdims=True)
                box = (slice(None), *_mouth_box(*r.shape[1:3]))
                split.append([(static**2).mean(), ((r - static) ** 2).mean(),
                              (static[box] ** 2).mean(), ((r - static)[box] ** 2).mean()])
                means.append(static)  # the sample's time mean, less the truth's
            parts.append(np.mean(split, axis=0))
            if len(means) == 2:  # one sample's static variance: E (a - b)^2 / 2 for two draws a, b
                d2 = (means[0] - means[1]) ** 2 / 2
                spread.append([d2.mean(), d2[box].mean()])
        p = np.array(parts)
        m, se = p.mean(0), p.std(0, ddof=1) / np.sqrt(len(p))
        psnr = 10 * np.log10(255.0**2 / (p[:, 0] + p[:, 1])).mean()
        print(f"{name:20s} total {m[0] + m[1]:7.1f} = static {m[0]:6.1f} ± {se[0]:.1f} + dynamic {m[1]:6.1f} ± "
              f"{se[1]:.1f}   | mouth {m[2] + m[3]:7.1f} = {m[2]:6.1f} + {m[3]:6.1f}   (PSNR {psnr:.2f} dB)")
        if spread:
            v = np.array(spread)
            b = p[:, [0, 2]] - v  # the static error of the mean sample (bias²), per clip
            (vm, vmm), (vs, _) = v.mean(0), v.std(0, ddof=1) / np.sqrt(len(v))
            (bm, bmm), (bs, _) = b.mean(0), b.std(0, ddof=1) / np.sqrt(len(b))
            print(f"{'':20s} static = bias² {bm:6.1f} ± {bs:.1f} + seed variance {vm:5.1f} ± {vs:.1f}   | mouth "
                  f"{bmm:6.1f} + {vmm:5.1f}   (two samples, mean of their rows)")
        per_arm[name] = p
    first, *rest = per_arm
    for name in rest:  # paired over the clips: this arm minus the first
        d = per_arm[name] - per_arm[first]
        m, se = d.mean(0), d.std(0, ddof=1) / np.sqrt(len(d))
        print(f"{name} - {first}: static {m[0]:+.1f} ± {se[0]:.1f}, dynamic {m[1]:+.1f} ± {se[1]:.1f} | mouth static "
              f"{m[2]:+.1f} ± {se[2]:.1f}, dynamic {m[3]:+.1f} ± {se[3]:.1f}")


def departure(world: str, still: str, dirs: list[str]) -> None:
    """Per clip, time means over pixel frames 1–32: d_M = model − still, d_Y = truth − still; mean |d|² (0–255
    units, per pixel and channel) and the cosine of d_M with d_Y (+1: the model leaves its reference the way the
    truth does; 0: in a direction of its own, so its static error is the still's plus |d_M|²)."""
    from livetalk.data.dataset import TalkingHeadDataset
    from livetalk.data.media import read_video

    ds = TalkingHeadDataset(world, load_tracks=False)
    clip_ids = ds.ids()
    mean_of = lambda path: read_video(path)[0][1:33].astype(np.float64).mean(0).ravel()  # noqa: E731
    dy2, rows = [], {spec.partition("=")[0]: [] for spec in dirs}
    for c in clip_ids:
        s = mean_of(f"{still}/{c}.mp4")
        dy = ds.by_id(c).frames[1:33].astype(np.float64).mean(0).ravel() - s
        dy2.append((dy**2).mean())
        for spec in dirs:
            name, _, folder = spec.partition("=")
            dm = mean_of(f"{folder}/{c}.mp4") - s
            rows[name].append([(dm**2).mean(), dm @ dy / (np.sqrt((dm @ dm) * (dy @ dy)) + 1e-12)])
    se = lambda v: np.std(v, ddof=1) / np.sqrt(len(v))  # noqa: E731
    print(f"{len(clip_ids)} clips; truth - still: |d_Y|^2 {np.mean(dy2):.1f} ± {se(dy2):.1f}")
    for name, r in rows.items():
        r = np.array(r)
        print(f"{name:20s} |d_M|^2 {r[:, 0].mean():6.1f} ± {se(r[:, 0]):.1f}   cos(d_M, d_Y) {r[:, 1].mean():+.3f} ± "
              f"{se(r[:, 1]):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--eval", required=True)
    m.add_argument("--world", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--variant", default="curated", choices=["curated", "clean", "raw"],
                   help="whose reference image to hold (default curated, the shipped student's conditions; before "
                        "session 31 the clean image was held with the curated frame 0)")
    vae_help = "tiny VAE that encoded --eval (default: the shipped one; `prepare-latents --vae`)"
    m.add_argument("--vae", default=None, help=vae_help)
    w = sub.add_parser("windowed")
    w.add_argument("--vae", default=None, help=vae_help)
    w.add_argument("--eval", required=True)
    w.add_argument("--world", required=True)
    w.add_argument("--out", required=True)
    s = sub.add_parser("motion")
    s.add_argument("--eval", required=True)
    s.add_argument("--truth", default="", help="latent file to score against instead of the eval file's latents "
                   "(e.g. `windowed`'s); the eval file's own latents are then listed as a row")
    s.add_argument("files", nargs="+", help="NAME=latent file")
    p = sub.add_parser("pixel-motion")
    p.add_argument("--world", required=True)
    p.add_argument("dirs", nargs="+", help="NAME=folder of decoded windows")
    e = sub.add_parser("error-split")
    e.add_argument("--world", required=True)
    e.add_argument("--eval", default="", help="score only the clips of this latent file's windows (all '#0'), e.g. "
                   "a subset of a training world; default: every clip of --world")
    e.add_argument("dirs", nargs="+", help="NAME=folder of decoded windows, or NAME=A,B: two noise seeds' samples")
    d = sub.add_parser("departure")
    d.add_argument("--world", required=True)
    d.add_argument("--still", required=True, help="folder of the still reference's decoded windows")
    d.add_argument("dirs", nargs="+", help="NAME=folder of decoded windows")
    args = ap.parse_args()
    if args.cmd == "departure":
        departure(args.world, args.still, args.dirs)
    elif args.cmd == "error-split":
        error_split(args.world, args.dirs, args.eval)
    elif args.cmd == "make":
        make(args.eval, args.world, args.out, args.variant, args.vae)
    elif args.cmd == "windowed":
        windowed(args.eval, args.world, args.out, args.vae)
    elif args.cmd == "motion":
        motion(args.eval, args.files, args.truth)
    else:
        pixel_motion(args.world, args.dirs)


if __name__ == "__main__":
    main()
