"""Decode the evaluation latents written by scripts/tiny_distill.py and score every model with the eval suite.

    python scripts/tiny_eval.py --run runs/tiny --reference /path/world_eval --out docs/results_tiny.json

For each gen_<model>.pt: latents → tiny VAE decoder → <run>/videos/<model>/<clip id>.mp4 (with the clip's
audio) → `livetalk.eval.evaluate_dirs` against the ground-truth renders. Also scores the ground truth itself
passed through the VAE (the ceiling any latent model can reach). Writes one JSON with every summary plus NFE
and seconds per clip stored with the latents, and prints a markdown comparison table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from livetalk.data.dataset import TalkingHeadDataset
from livetalk.data.media import write_video
from livetalk.eval.evaluate import evaluate_dirs
from livetalk.eval.latent_probes import evaluate_latents, load_latent_file
from livetalk.models.vae import frames_to_video, video_to_frames
from livetalk.models.vae_long_decoder import window_latents
from livetalk.models.vae_reprime import FIRST_SPAN, decode_reprimed
from livetalk.models.vae_tiny import load_tiny_vae

COLUMNS = [("fd_frames", "FD frames ↓"), ("fd_clips", "FD clips ↓"), ("sync_corr", "lip corr ↑"),
           ("sync_offset_abs_mean", "|offset| ↓"), ("identity_sim", "identity ↑"), ("text_accuracy", "text acc ↑"),
           ("flicker", "flicker ↓"), ("black_rate", "black ↓"), ("psnr_drop", "collapse dB ↓"), ("psnr", "PSNR ↑"),
           ("ssim", "SSIM ↑")]
LATENT_COLUMNS = [("sync_corr", "lip corr (latent) ↑"), ("sync_corr_mismatched", "same, other clip's track"),
                  ("sync_gain", "own − other ↑"), ("sync_gain_sem", "± (s.e.)"),
                  ("sync_offset_abs_mean", "|offset| (latent) ↓"), ("text_accuracy", "text acc (latent) ↑")]


@torch.no_grad()
def decode_model(vae, data: dict, ref: TalkingHeadDataset, out_dir: Path, warmup: int | None = None) -> None:
    """Latent file contents `{"latents": [N, F, 16, h, w], "ids": [N]}` → one mp4 per clip with its audio.
    `warmup`: decode re-primed (`livetalk.models.vae_reprime`, blocks of 3 latent frames, the runtime's first
    span of 9 latent frames); None = continuously."""
    out_dir.mkdir(parents=True, exist_ok=True)
    index = {cid: i for i, cid in enumerate(ref.ids())}
    for lat, wid in zip(data["latents"], data["ids"]):
        cid = wid.split("#")[0]
        z = lat[None].float()
        y = vae.decode(z) if warmup is None else decode_reprimed(vae.stream_decoder, z, warmup, first_span=FIRST_SPAN)
        frames = video_to_frames(y[0])
        audio = ref[index[cid]].audio[: len(frames) * 1000]
        write_video(out_dir / f"{cid}.mp4", frames, audio=audio)


@torch.no_grad()
def vae_ceiling(vae, ref: TalkingHeadDataset, ids: list[str], n_frames: int, out_dir: Path,
                windowed: bool = False) -> None:
    """Ground truth (first n_frames, reference image in frame 0 like the models) through encode → decode.

    windowed: encode 33-frame windows on their own (`window_latents`, as the DiT data) instead of the whole clip."""
    out_dir.mkdir(parents=True, exist_ok=True)
    index = {cid: i for i, cid in enumerate(ref.ids())}
    for cid in ids:
        s = ref[index[cid]]
        x = frames_to_video(s.frames[:n_frames])
        frames = video_to_frames(vae.decode(window_latents(vae, x) if windowed else vae.encode(x))[0])
        write_video(out_dir / f"{cid}.mp4", frames, audio=s.audio[: len(frames) * 1000])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default="runs/tiny")
    ap.add_argument("--reference", required=True)
    ap.add_argument("--out", default="docs/results_tiny.json")
    ap.add_argument("--prefix", default="gen_", help="gen_ (eval windows) or long_ (long streams)")
    ap.add_argument("--models", nargs="*", default=None,
                    help="score only these (and merge into an existing --out file); 'vae-ceiling' for the ceiling")
    ap.add_argument("--vae", default=None, help="tiny VAE checkpoint (default: the shipped one)")
    ap.add_argument("--latent-only", action="store_true",
                    help="only add the latent-space lip-sync / text scores (key 'latent') to an existing --out file")
    ap.add_argument("--gt-latents", default=None,
                    help="ground-truth latent file of the same windows (eval.pt / eval_long.pt): the latent ceiling")
    ap.add_argument("--windowed-ceiling", action="store_true",
                    help="also score ground truth encoded window by window (33 frames, like the DiT data) and decoded "
                         "as one stream: the ceiling for what the students generate on long streams")
    ap.add_argument("--decode-only", action="store_true",
                    help="write the decoded videos and skip the eval suite (for scripts/paired_metrics.py, which "
                         "scores clip by clip itself); no --out file")
    ap.add_argument("--decode-warmup", type=int, default=None,
                    help="decode the models' latents re-primed with this many latent frames of warm-up before each "
                         "block (livetalk.models.vae_reprime); default: one continuous decoder")
    args = ap.parse_args()
    run = Path(args.run)
    if args.latent_only:
        return latent_scores(args, run)
    vae = load_tiny_vae(args.vae)
    ref = TalkingHeadDataset(args.reference)
    # older runs wrote the timings to one JSON file instead of into each latent file
    timing_files = [run / f"{args.prefix}timing.json"] + ([run / "timing.json"] if args.prefix == "gen_" else [])
    timing = {k: v for f in timing_files if f.exists() for k, v in json.loads(f.read_text()).items()}
    results = json.loads(Path(args.out).read_text()) if args.models is not None and Path(args.out).exists() else {}
    gens = sorted(run.glob(f"{args.prefix}*.pt"))
    if not gens:
        raise FileNotFoundError(f"no {args.prefix}*.pt latent files in {run}")
    first = torch.load(gens[0], weights_only=False)  # every file holds the same clips, same length
    ids, n_frames = [w.split("#")[0] for w in first["ids"]], 4 * first["latents"].shape[1] - 3
    videos = run / f"videos_{args.prefix.rstrip('_')}"
    for gen in gens:
        name = gen.stem[len(args.prefix):]
        if args.models is not None and name not in args.models:
            continue
        data = torch.load(gen, weights_only=False)
        decode_model(vae, data, ref, videos / name, args.decode_warmup)
        if args.decode_only:
            print(json.dumps({"decoded": str(videos / name), "clips": len(data["ids"])}), flush=True)
            continue
        results[name] = {**evaluate_dirs(videos / name, args.reference)["summary"], **data.get("timing", timing.get(name, {}))}
        print(json.dumps({name: results[name]}), flush=True)
    if args.decode_only:
        return
    if args.models is None or "vae-ceiling" in args.models:
        vae_ceiling(vae, ref, ids, n_frames, videos / "vae-ceiling")
        results["vae-ceiling"] = evaluate_dirs(videos / "vae-ceiling", args.reference)["summary"]
    if args.windowed_ceiling:
        vae_ceiling(vae, ref, ids, n_frames, videos / "vae-ceiling-windowed", windowed=True)
        results["vae-ceiling-windowed"] = evaluate_dirs(videos / "vae-ceiling-windowed", args.reference)["summary"]
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(model_table(results, [("nfe_per_clip", "NFE / clip")] + COLUMNS))


def model_table(rows: dict[str, dict], columns: list[tuple[str, str]]) -> str:
    """Markdown table, one row per model: floats to 3 significant digits, other values as they are, '–' if absent."""
    def cell(v) -> str:
        return f"{v:.3g}" if isinstance(v, float) else "–" if v is None else str(v)

    lines = ["| model | " + " | ".join(c for _, c in columns) + " |", "|" + "---|" * (len(columns) + 1)]
    lines += [f"| {name} | " + " | ".join(cell(r.get(k)) for k, _ in columns) + " |" for name, r in rows.items()]
    return "\n".join(lines)


def latent_scores(args, run: Path) -> None:
    """Lip sync and text following scored on the latents themselves (`livetalk.eval.latent_probes`), merged
    into the --out JSON under each model's 'latent' key; 'vae-ceiling' gets the ground-truth latents'."""
    results = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    files = {g.stem[len(args.prefix):]: g for g in sorted(run.glob(f"{args.prefix}*.pt"))}
    if args.gt_latents:
        files["vae-ceiling"] = Path(args.gt_latents)
    for name, path in files.items():
        if args.models is not None and name not in args.models:
            continue
        latents, ids = load_latent_file(path)
        results.setdefault(name, {})["latent"] = evaluate_latents(latents, ids, args.reference)["summary"]
        print(json.dumps({name: results[name]["latent"]}), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(model_table({name: r.get("latent", {}) for name, r in results.items()}, LATENT_COLUMNS))


if __name__ == "__main__":
    main()
