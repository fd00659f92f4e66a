"""`livetalk prepare-latents` split in two for a machine whose CPU is too slow for the VAE encoder:

    python scripts/prep_split.py local --data DIR --out META.pt [--windows-per-clip K] [--degrade 0.3]
        # here: audio features per window (log-mel) and prompt states (MiniLM) for every variant
    python scripts/prep_split.py encode --data DIR --meta META.pt --out LATENTS.pt --device cuda
        # there: video windows and variant reference images through the tiny VAE (reads only the mp4 and png
        # files, with OpenCV), writing the same file format as `prepare_latents`
    python scripts/prep_split.py merge --inputs A.pt B.pt --out AB.pt
        # several latent files (e.g. two worlds of different seeds) as one

The variants (clean / raw / curated) use the same functions as `livetalk.distill.prepare`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from livetalk.distill.prepare import NEGATIVE_PROMPT, VARIANTS, _variant_conditions, pack_latent_file


def manifest(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines() if line.strip()]


def local(args) -> None:
    from scipy.io import wavfile

    from livetalk.models.audio_encoder import build_audio_encoder
    from livetalk.models.dit import pack_audio_frames
    from livetalk.models.text_encoder import build_text_encoder

    root = Path(args.data)
    n_pix = 4 * args.latent_frames - 3
    audio_enc = build_audio_encoder("tiny")
    text = build_text_encoder("tiny")
    windows, feats = [], []
    for e in manifest(root):
        rate, wave = wavfile.read(root / e["audio"])
        wave = wave.astype(np.float32) / (32768.0 if wave.dtype == np.int16 else 1.0)
        if rate != 16000:
            raise ValueError(f"{e['audio']}: expected 16 kHz, got {rate}")
        n_frames = int(round(e["duration_s"] * 16))
        starts = list(range(0, n_frames - n_pix + 1, n_pix))[: args.windows_per_clip]
        for p0 in starts:
            f = audio_enc.encode(wave[p0 * 1000 : (p0 + n_pix) * 1000], num_frames=n_pix)[None]
            feats.append(pack_audio_frames(f)[0].half())
            windows.append((e["id"], p0))
    # prompts per clip and variant (reference images are handled on the encoding machine)
    clip_prompts = {}
    for i, e in enumerate(manifest(root)):
        clip_prompts[e["id"]] = {v: _variant_conditions(np.zeros((64, 64, 3), np.uint8) + 128, e["prompt"], i, v, 0.0, {})[1]
                                 for v in VARIANTS}
    distinct = sorted({p for d in clip_prompts.values() for p in d.values()} | {NEGATIVE_PROMPT})
    table = {p: t.half() for p, t in zip(distinct, text.encode(distinct))}
    torch.save({"windows": windows, "audio": torch.stack(feats), "clip_prompts": clip_prompts, "text_table": table,
                "latent_frames": args.latent_frames, "degrade": args.degrade}, args.out)
    print(json.dumps({"windows": len(windows), "distinct_prompts": len(distinct)}))


def read_mp4(path: Path) -> np.ndarray:
    """Frames `[T, H, W, 3]` uint8: PyAV where installed, else OpenCV (the GPU machine had only OpenCV)."""
    try:
        from livetalk.data.media import read_video

        return read_video(path)[0]
    except ImportError:
        pass
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    if not frames:
        raise ValueError(f"no frames in {path}")
    return np.stack(frames)


@torch.no_grad()
def encode(args) -> None:
    from PIL import Image

    from livetalk.models.vae_tiny import load_tiny_vae

    root = Path(args.data)
    meta = torch.load(args.meta, weights_only=False)
    torch.set_num_threads(args.threads)
    vae = load_tiny_vae(args.vae, device=args.device)
    n_pix = 4 * meta["latent_frames"] - 3
    entries = {e["id"]: (i, e) for i, e in enumerate(manifest(root))}

    def enc(frames: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.array(frames, copy=True)).to(args.device).float().div(127.5).sub(1)
        return vae.encode(x.permute(0, 3, 1, 2)[None])[0]

    lat, refs = [], {v: [] for v in VARIANTS}
    cache: dict[str, torch.Tensor] = {}
    video: tuple[str, np.ndarray] | None = None
    for cid, p0 in meta["windows"]:
        i, e = entries[cid]
        if video is None or video[0] != cid:
            video = (cid, read_mp4(root / e["video"]))
            image = np.asarray(Image.open(root / e["image"]).convert("RGB"))
            for v in VARIANTS:
                img, _ = _variant_conditions(image, e["prompt"], i, v, meta["degrade"], {})
                cache[v] = enc(img[None])[0].cpu()
        lat.append(enc(video[1][p0 : p0 + n_pix]).cpu())
        for v in VARIANTS:
            refs[v].append(cache[v])
    table = meta["text_table"]
    prompts = {v: [meta["clip_prompts"][c][v] for c, _ in meta["windows"]] for v in VARIANTS}
    out = pack_latent_file(lat, meta["audio"], [f"{c}#{p}" for c, p in meta["windows"]], refs, prompts,
                           lambda ps: torch.stack([table[p] for p in ps]).float(), meta["degrade"])
    torch.save(out, args.out)
    print(json.dumps({"windows": len(lat), "latents": list(out["latents"].shape)}))


def merge(args) -> None:
    from livetalk.distill.prepare import merge_latent_files

    out = merge_latent_files([torch.load(p, weights_only=False) for p in args.inputs])
    torch.save(out, args.out)
    print(json.dumps({"windows": len(out["ids"]), "parts": len(args.inputs),
                      "distinct_prompts": {v: len(d["prompts"]) for v, d in out["variants"].items()}}))


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("local")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--latent-frames", type=int, default=9)
    p.add_argument("--windows-per-clip", type=int, default=None)
    p.add_argument("--degrade", type=float, default=0.3)
    p = sub.add_parser("encode")
    p.add_argument("--data", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--vae", default=None, help="tiny VAE checkpoint (default: the shipped one)")
    p.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("merge", help="several latent files → one (e.g. a second world for more identities)")
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--out", required=True)
    args = ap.parse_args()
    {"local": local, "encode": encode, "merge": merge}[args.cmd](args)


if __name__ == "__main__":
    main()
