"""scripts/stream_drift.py: PSNR by stretch of a long stream, and the window-encoded ceiling."""

import subprocess
import sys
from pathlib import Path

import torch

from livetalk.data.clip import ClipConfig
from livetalk.data.dataset import TalkingHeadDataset
from livetalk.data.synth import synth_dataset
from livetalk.models.vae import frames_to_video
from livetalk.models.vae_long_decoder import window_latents
from livetalk.models.vae_tiny import load_tiny_vae

SCRIPT = Path(__file__).parents[2] / "scripts" / "stream_drift.py"


def test_ground_truth_latents_score_the_ceiling_and_noise_scores_low(tmp_path):
    synth_dataset(tmp_path / "world", 1, ClipConfig(duration_s=8.0))
    ds = TalkingHeadDataset(tmp_path / "world")
    with torch.no_grad():
        z = window_latents(load_tiny_vae(None), frames_to_video(ds[0].frames[:125]))  # [1, 32, 16, 8, 8]
    cid = ds.ids()[0]
    torch.save({"latents": z.half(), "ids": [f"{cid}#0"]}, tmp_path / "gt.pt")
    torch.save({"latents": torch.randn_like(z).half() * 3, "ids": [cid]}, tmp_path / "noise.pt")
    r = subprocess.run([sys.executable, str(SCRIPT), "--reference", str(tmp_path / "world"), "--threads", "1",
                        str(tmp_path / "gt.pt"), str(tmp_path / "noise.pt"), "--ceiling"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {line.split(":")[0]: [float(x) for x in line.split(":")[1].split("/")]
            for line in r.stdout.splitlines()[1:]}
    gt, noise = rows[str(tmp_path / "gt.pt")], rows[str(tmp_path / "noise.pt")]
    ceiling = rows["ground truth, window by window"]
    assert len(gt) == 4
    assert all(abs(a - b) < 0.05 for a, b in zip(gt, ceiling))  # fp16 round trip only
    assert all(n < g - 3 for n, g in zip(noise, gt))
