"""How much of the mouth survives a tiny VAE: encode → decode held-out world windows and measure

- PSNR over the whole frame and inside the mouth box (`VAETrainConfig.mouth_box`),
- lip corr: the pixel face-state probe's mouth openness on the reconstruction against the ground-truth track
  (and against another clip's track, the control).
(A linear read-out of the mouth from the latents needs hundreds of identities to fit: train the latent probes,
`livetalk eval train-latent-probes`, on the new VAE's latents instead.)

    python scripts/vae_mouth.py --data /path/world_eval --vae A.safetensors [B.safetensors …] [--start 33]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from livetalk.data.dataset import TalkingHeadDataset
from livetalk.eval import features as feat
from livetalk.eval.metrics.lipsync import lagged_corr
from livetalk.eval.metrics.fidelity import psnr
from livetalk.models.vae import frames_to_video, video_to_frames
from livetalk.models.vae_tiny import load_tiny_vae
from livetalk.models.vae_train import VAETrainConfig, region_weights


@torch.no_grad()
def score(vae_path: str, ds: TalkingHeadDataset, start: int, n: int, frames: int = 33) -> dict:
    vae = load_tiny_vae(vae_path)
    box = region_weights(64, VAETrainConfig.mouth_box, 1.0) > 1
    p_all, p_mouth, corr, ctrl, tracks, reads = [], [], [], [], [], []
    for i in range(n):
        s = ds[i]
        gt = np.array(s.frames[start:start + frames], copy=True)
        rec = video_to_frames(vae.decode(vae.encode(frames_to_video(gt)))[0])
        p_all.append(float(psnr(rec, gt).mean()))
        m = box[None, :, :, None].numpy()
        err = ((rec.astype(np.float64) - gt) ** 2)[np.broadcast_to(m, rec.shape)].mean()
        p_mouth.append(float(10 * np.log10(255.0**2 / max(err, 1e-10))))
        track = np.asarray(s.tracks["mouth_open"], np.float64)[start:start + frames]
        tracks.append(track)
        reads.append(feat.mouth_openness(rec))
    for i in range(n):
        corr.append(lagged_corr(reads[i], tracks[i], 0))
        ctrl.append(lagged_corr(reads[i], tracks[(i + 1) % n], 0))
    return {"vae": vae_path, "clips": n, "frames": f"{start}-{start + frames - 1}",
            "psnr": round(float(np.mean(p_all)), 2), "psnr_mouth": round(float(np.mean(p_mouth)), 2),
            "lip_corr_recon": round(float(np.mean(corr)), 3), "lip_corr_control": round(float(np.mean(ctrl)), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="held-out world folder")
    ap.add_argument("--vae", nargs="+", required=True)
    ap.add_argument("--start", type=int, default=33, help="first pixel frame of each window (33 skips the onset)")
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = TalkingHeadDataset(args.data)
    for v in args.vae:
        print(json.dumps(score(v, ds, args.start, min(args.clips, len(ds)))), flush=True)


if __name__ == "__main__":
    main()
