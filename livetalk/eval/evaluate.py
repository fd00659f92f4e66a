"""Compare generated videos with ground-truth renders of the same identity, audio and prompt.

`evaluate_clip` scores one generated video against one reference Sample; `evaluate_dirs` matches a
generated folder to a reference dataset folder by clip id and aggregates (means over clips, Fréchet
distances over all frames / clip windows). Everything is deterministic for fixed inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.dataset import MANIFEST, Sample, TalkingHeadDataset
from ..data.media import read_video
from ..data.motion import MOTIONS, label_from_prompt
from . import features as feat
from .metrics.artifacts import bad_frames, collapse, edge_windows, flicker, sharpness
from .metrics.fidelity import psnr, ssim
from .metrics.frechet import frechet_distance
from .metrics.lipsync import lip_sync
from .probes import STATE_KEYS, WEIGHTS_DIR


@dataclass(frozen=True)
class EvalConfig:
    """max_lag: lip-sync lag search range in frames; weights: probe checkpoint folder."""

    max_lag: int = 8
    weights: Path = WEIGHTS_DIR


@dataclass
class ClipResult:
    metrics: dict
    frame_feats_gen: np.ndarray  # [T, 128]
    frame_feats_ref: np.ndarray  # [T, 128]
    clip_feats_gen: np.ndarray  # [W, 256]
    clip_feats_ref: np.ndarray  # [W, 256]


def resize_frames(frames: np.ndarray, h: int, w: int) -> np.ndarray:
    """uint8 [T, H, W, 3] → uint8 [T, h, w, 3] (antialiased bilinear); no-op when sizes match."""
    if frames.shape[1:3] == (h, w):
        return frames
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    return y.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def target_motion(ref: Sample) -> str | None:
    """Motion label for the clip: ground-truth track if present, else keywords in the prompt."""
    if ref.tracks is not None and "motion_label" in ref.tracks:
        return MOTIONS[int(ref.tracks["motion_label"])]
    return label_from_prompt(ref.prompt)


def evaluate_clip(gen: np.ndarray, ref: Sample, cfg: EvalConfig = EvalConfig()) -> ClipResult:
    """Score generated frames uint8 [Tg, H', W', 3] against `ref` (frames [T, H, W, 3], tracks optional).
    Lengths are truncated to min(Tg, T); the generated video is resized to the reference size."""
    if gen.ndim != 4 or gen.shape[-1] != 3 or gen.dtype != np.uint8:
        raise ValueError(f"generated frames must be uint8 [T, H, W, 3], got {gen.dtype} {gen.shape}")
    n = min(len(gen), len(ref.frames))
    g = resize_frames(gen[:n], *ref.frames.shape[1:3])
    r = ref.frames[:n]
    m: dict = {"frames_generated": int(len(gen)), "frames_reference": int(len(ref.frames)), "frames_compared": n}

    p = psnr(g, r)
    m["psnr"] = float(p.mean())
    m["ssim"] = float(ssim(g, r).mean())
    bad = bad_frames(g)
    m["black_rate"], m["blank_rate"] = bad["black_rate"], bad["blank_rate"]
    m["flicker"] = flicker(g)
    m["flicker_reference"] = flicker(r)
    m["psnr_drop"] = collapse(p)
    sg, sr = sharpness(g), sharpness(r)
    a, b = edge_windows(n)
    m["sharpness_ratio"] = float((sg[b].mean() / max(sg[a].mean(), 1e-9)) / max(sr[b].mean() / max(sr[a].mean(), 1e-9), 1e-9))

    st_g = feat.face_states(g, cfg.weights)
    open_g = np.clip(st_g[:, STATE_KEYS.index("mouth_open")], 0, 1)
    if ref.tracks is not None and "mouth_open" in ref.tracks:
        open_r = np.asarray(ref.tracks["mouth_open"], np.float64)[:n]
    else:
        open_r = feat.mouth_openness(r, cfg.weights)
    if n >= 2 * cfg.max_lag + 4:
        m.update(lip_sync(open_g, open_r, cfg.max_lag))

    emb_ref_img = feat.identity_embeddings(ref.reference[None], cfg.weights)[0]
    fg, fr = feat.identity_features(g, cfg.weights), feat.identity_features(r, cfg.weights)
    sim = feat.normalize(fg) @ emb_ref_img
    m["identity_sim"] = float(sim.mean())
    m["identity_sim_min"] = float(sim.min())
    m["identity_drift"] = collapse(sim)
    m["identity_sim_reference"] = float((feat.normalize(fr) @ emb_ref_img).mean())

    target = target_motion(ref)
    pred = MOTIONS[int(np.argmax(feat.motion_logits(st_g, cfg.weights)))] if n >= 16 else None
    m["motion_target"], m["motion_pred"] = target, pred
    if target is not None and pred is not None:
        m["motion_correct"] = float(pred == target)

    st_r = feat.face_states(r, cfg.weights)
    return ClipResult(m, fg, fr, feat.clip_features(st_g, fg, cfg.weights), feat.clip_features(st_r, fr, cfg.weights))


def generated_index(gen_dir: Path) -> dict[str, Path]:
    """clip id → video path from a generated folder's manifest (empty if it has none)."""
    if not (gen_dir / MANIFEST).exists():
        return {}
    return {e["id"]: gen_dir / e["video"] for e in TalkingHeadDataset(gen_dir, load_tracks=False).entries}


def find_generated(gen_dir: Path, clip_id: str, index: dict[str, Path] | None = None) -> Path | None:
    """Generated video for `clip_id`: manifest entry, else <dir>/clips/<id>.mp4, else <dir>/<id>.mp4."""
    index = generated_index(gen_dir) if index is None else index
    if clip_id in index:
        return index[clip_id]
    for cand in (gen_dir / "clips" / f"{clip_id}.mp4", gen_dir / f"{clip_id}.mp4"):
        if cand.exists():
            return cand
    return None


_MEAN_KEYS = ("psnr", "ssim", "black_rate", "blank_rate", "flicker", "flicker_reference", "psnr_drop",
              "sharpness_ratio", "sync_corr", "sync_best_corr", "sync_mae", "identity_sim", "identity_sim_min",
              "identity_drift", "identity_sim_reference", "motion_correct")


def aggregate(results: dict[str, ClipResult]) -> dict:
    """Summary over clips: means of per-clip scalars, |offset| stats, Fréchet distances."""
    s: dict = {"clips": len(results)}
    for k in _MEAN_KEYS:
        vals = [r.metrics[k] for r in results.values() if k in r.metrics]
        if vals:
            s["text_accuracy" if k == "motion_correct" else k] = float(np.mean(vals))
    offs = [r.metrics["sync_offset"] for r in results.values() if "sync_offset" in r.metrics]
    if offs:
        s["sync_offset_median"] = float(np.median(offs))
        s["sync_offset_abs_mean"] = float(np.mean(np.abs(offs)))
    fg = np.concatenate([r.frame_feats_gen for r in results.values()])
    fr = np.concatenate([r.frame_feats_ref for r in results.values()])
    s["fd_frames"] = frechet_distance(fg, fr)
    cg = np.concatenate([r.clip_feats_gen for r in results.values()])
    cr = np.concatenate([r.clip_feats_ref for r in results.values()])
    if len(cg) >= 2 and len(cr) >= 2:
        s["fd_clips"] = frechet_distance(cg, cr)
    return s


def _round(x):
    if isinstance(x, float):
        return float(f"{x:.6g}")
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_round(v) for v in x]
    return x


def evaluate_dirs(generated: str | Path, reference: str | Path, cfg: EvalConfig = EvalConfig(),
                  limit: int | None = None) -> dict:
    """Evaluate every reference clip that has a generated video. Returns {'summary', 'clips', 'missing'}.
    Runs torch single-threaded (restored afterwards) so results are bit-stable across machines' core counts."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _evaluate_dirs(Path(generated), reference, cfg, limit)
    finally:
        torch.set_num_threads(threads)


def _evaluate_dirs(gen_dir: Path, reference: str | Path, cfg: EvalConfig, limit: int | None) -> dict:
    ref_ds = TalkingHeadDataset(reference)
    if not gen_dir.is_dir():
        raise FileNotFoundError(f"generated folder not found: {gen_dir}")
    results, missing = {}, []
    index = generated_index(gen_dir)
    for i, cid in enumerate(ref_ds.ids()):
        if limit is not None and len(results) >= limit:
            break
        path = find_generated(gen_dir, cid, index)
        if path is None:
            missing.append(cid)
            continue
        frames, _ = read_video(path)
        results[cid] = evaluate_clip(frames, ref_ds[i], cfg)
    if not results:
        raise ValueError(f"no generated videos in {gen_dir} match the ids in {reference}")
    return _round({"summary": aggregate(results), "clips": {k: r.metrics for k, r in results.items()},
                   "missing": missing})
