"""How much of the mouth survives a tiny VAE: encode → decode held-out world windows and measure

- PSNR over the whole frame and inside the mouth box (`VAETrainConfig.mouth_box`), and over the whole frame by
  window frames 0–12 / 13–20 / 21–32 (a VAE trained on short clips collapses past its training length),
- lip corr: the pixel face-state probe's mouth openness on the reconstruction against the ground-truth track
  (and against another clip's track, the control);
- the mouth's own part of the pixels (each window rendered again as spoken and with the mouth closed,
  `vae_mouth_pairs.mouth_kept`): its gain (1 = full amplitude), correlation, and the time course of its per-frame
  energy against the truth's, over the whole frame.
- with `--readout`: a ridge read-out of each pixel frame's mouth openness from the mouth-box latents of its latent
  frame and the next (windows at frames 0, 33 and 66 of every clip, 5-fold cross-validated over clips): the
  correlation per pixel frame within a latent frame, of the latent frame's mean, and of the detail within it. A
  rough gauge of what the latents keep (hundreds of features on ~800 samples; the latent probes,
  `livetalk eval train-latent-probes`, are the proper read-out).

    python scripts/vae_mouth.py --data /path/world_eval --vae A.safetensors [B.safetensors …] [--start 33]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from livetalk.data.dataset import TalkingHeadDataset
from livetalk.data.render import render_frames
from livetalk.eval import features as feat
from livetalk.eval.metrics.lipsync import lagged_corr
from livetalk.eval.metrics.fidelity import psnr
from livetalk.models.vae import frames_to_video, video_to_frames
from livetalk.models.vae_mouth_pairs import WorldPairSource, mouth_kept
from livetalk.models.vae_tiny import load_tiny_vae
from livetalk.models.vae_train import VAETrainConfig, region_weights


@torch.no_grad()
def score(vae_path: str, ds: TalkingHeadDataset, start: int, n: int, frames: int = 33, pairs: WorldPairSource | None = None) -> dict:
    vae = load_tiny_vae(vae_path)
    box = region_weights(64, VAETrainConfig.mouth_box, 1.0) > 1
    p_all, p_mouth, corr, ctrl, tracks, reads, p_frames = [], [], [], [], [], [], []
    for i in range(n):
        s = ds[i]
        gt = np.array(s.frames[start:start + frames], copy=True)
        rec = video_to_frames(vae.decode(vae.encode(frames_to_video(gt)))[0])
        per_frame = np.asarray(psnr(rec, gt), np.float64)  # [frames] dB
        p_all.append(float(per_frame.mean()))
        p_frames.append(per_frame)
        m = box[None, :, :, None].numpy()
        err = ((rec.astype(np.float64) - gt) ** 2)[np.broadcast_to(m, rec.shape)].mean()
        p_mouth.append(float(10 * np.log10(255.0**2 / max(err, 1e-10))))
        track = np.asarray(s.tracks["mouth_open"], np.float64)[start:start + frames]
        tracks.append(track)
        reads.append(feat.mouth_openness(rec))
    for i in range(n):
        corr.append(lagged_corr(reads[i], tracks[i], 0))
        ctrl.append(lagged_corr(reads[i], tracks[(i + 1) % n], 0))
    out = {"vae": vae_path, "clips": n, "frames": f"{start}-{start + frames - 1}",
           "psnr": round(float(np.mean(p_all)), 2), "psnr_mouth": round(float(np.mean(p_mouth)), 2),
           **{f"psnr_{a}_{b}": round(float(np.mean([f[a:b + 1].mean() for f in p_frames])), 2)
              for a, b in ((0, 12), (13, 20), (21, frames - 1))},
           "lip_corr_recon": round(float(np.mean(corr)), 3), "lip_corr_control": round(float(np.mean(ctrl)), 3)}
    if pairs is not None:
        windows = [pairs.window_pair(i, start, frames) for i in range(n)]
        kept = mouth_kept(vae, torch.cat([frames_to_video(s) for s, _ in windows]), torch.cat([frames_to_video(c) for _, c in windows]))
        out.update({f"mouth_{k}": (round(v, 3) if isinstance(v, float) else v) for k, v in kept.items()})
    return out


@torch.no_grad()
def latent_readout(vae, pairs: WorldPairSource, n: int, lam: float = 10.0) -> dict:
    """Cross-validated ridge read-out of mouth_open (4 pixel frames per latent frame) from latents (see docstring)."""
    xs, ys, groups = [], [], []
    for i in range(n):
        p = pairs.plan(i)
        if len(p.state.mouth_open) < 99:
            raise ValueError(f"--readout needs clips of >= 99 frames (windows at 0, 33, 66); clip {i} has {len(p.state.mouth_open)}")
        for off in (0, 33, 66):
            st = p.state.slice(off, off + 33)
            z = vae.encode(frames_to_video(render_frames(p.identity, st, 64)))[0]  # [9, 16, 8, 8]
            box = z[:, :, 3:7, 1:7].reshape(z.shape[0], -1).numpy()
            for k in range(1, z.shape[0] - 1):
                xs.append(np.concatenate([box[k], box[k + 1]]))
                ys.append(st.mouth_open[4 * k - 3 : 4 * k + 1])
                groups.append(i)
    x, y, groups = np.array(xs, np.float64), np.array(ys, np.float64), np.array(groups)
    pred = np.zeros_like(y)
    for f in range(5):
        te = groups % 5 == f
        mx, sx, my = x[~te].mean(0), x[~te].std(0) + 1e-6, y[~te].mean(0)
        a = (x[~te] - mx) / sx
        w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ (y[~te] - my))
        pred[te] = (x[te] - mx) / sx @ w + my
    dp, dy = pred - pred.mean(1, keepdims=True), y - y.mean(1, keepdims=True)
    return {"readout_per_frame": round(float(np.mean([np.corrcoef(pred[:, j], y[:, j])[0, 1] for j in range(4)])), 3),
            "readout_latent_mean": round(float(np.corrcoef(pred.mean(1), y.mean(1))[0, 1]), 3),
            "readout_detail": round(float(np.corrcoef(dp.ravel(), dy.ravel())[0, 1]), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="held-out world folder")
    ap.add_argument("--vae", nargs="+", required=True)
    ap.add_argument("--start", type=int, default=33, help="first pixel frame of each window (33 skips the onset)")
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--readout", action="store_true", help="also the latent read-out of the mouth (~1 min more)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = TalkingHeadDataset(args.data)
    pairs = WorldPairSource(args.data)
    for v in args.vae:
        out = score(v, ds, args.start, min(args.clips, len(ds)), pairs=pairs)
        if args.readout:
            out.update(latent_readout(load_tiny_vae(v), pairs, min(args.clips, len(ds))))
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
