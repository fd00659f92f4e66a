"""scripts/vae_mouth.py: how much of the mouth a tiny VAE keeps, scored on a small synthetic world."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from livetalk.data.clip import ClipConfig
from livetalk.data.synth import synth_dataset
from livetalk.models.vae_tiny import TINY_VAE_PATH

pytestmark = pytest.mark.skipif(not TINY_VAE_PATH.exists(), reason="shipped tiny VAE not present")

SCRIPT = Path(__file__).parents[2] / "scripts" / "vae_mouth.py"


def test_scores_whole_frame_ranges_mouth_and_readout(tmp_path):
    synth_dataset(tmp_path / "world", 3, ClipConfig(duration_s=7.0), start_seed=900000)
    r = subprocess.run([sys.executable, str(SCRIPT), "--data", tmp_path / "world", "--vae", TINY_VAE_PATH,
                        "--clips", "3", "--readout"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["clips"] == 3 and out["frames"] == "33-65" and out["mouth_windows"] == 3
    ranges = [(out["psnr_0_12"], 13), (out["psnr_13_20"], 8), (out["psnr_21_32"], 12)]
    assert abs(sum(p * n for p, n in ranges) / 33 - out["psnr"]) < 0.02  # the ranges split the window's frames
    assert 10 < out["psnr"] < 40 and out["psnr_mouth"] < 40
    for k in ("lip_corr_recon", "lip_corr_control", "mouth_gain", "mouth_corr", "mouth_time_course_corr",
              "readout_per_frame", "readout_latent_mean", "readout_detail"):
        assert -1.0 <= out[k] <= 1.5, k
