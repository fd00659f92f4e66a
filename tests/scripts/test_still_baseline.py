"""scripts/still_baseline.py: the reference held still as a model's latent file, and latent motion / error."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from livetalk.data.clip import ClipConfig
from livetalk.data.synth import synth_dataset
from livetalk.distill.data import LatentClips
from livetalk.distill.prepare import prepare_latents
from livetalk.models.vae_tiny import TINY_VAE_PATH

pytestmark = pytest.mark.skipif(not TINY_VAE_PATH.exists(), reason="shipped tiny VAE not present")

SCRIPT = Path(__file__).parents[2] / "scripts" / "still_baseline.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_still_reference_latents_hold_still_and_score_against_the_truth(tmp_path):
    synth_dataset(tmp_path / "world", 2, ClipConfig(duration_s=2.0))
    ev = tmp_path / "eval.pt"
    prepare_latents(tmp_path / "world", ev, latent_frames=5, windows_per_clip=1, variants=("curated",),
                    progress=False)
    r = _run("make", "--eval", ev, "--world", tmp_path / "world", "--out", tmp_path / "gen_static.pt")
    assert r.returncode == 0, r.stderr[-2000:]
    truth = LatentClips.load(f"{ev}:curated")
    still = torch.load(tmp_path / "gen_static.pt", weights_only=False)
    assert still["ids"] == truth.ids and still["latents"].shape == truth.latents.shape
    assert torch.equal(still["latents"][:, 0].float(), truth.ref.half().float())  # frame 0: the eval reference
    r = _run("motion", "--eval", ev, f"still={tmp_path / 'gen_static.pt'}")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {line.split(" motion ")[0].strip(): line for line in r.stdout.splitlines()[1:]}
    assert set(rows) == {"ground truth", "still"}
    assert rows["ground truth"].endswith("mse 0.000")  # 5 latent frames: one stretch, 1-4
    assert not rows["still"].endswith("mse 0.000")
    # a latent file of another shape is an error, not a silent partial score
    torch.save({"latents": still["latents"][:, :3], "ids": still["ids"]}, tmp_path / "short.pt")
    r = _run("motion", "--eval", ev, f"short={tmp_path / 'short.pt'}")
    assert r.returncode != 0 and "ground truth" in r.stderr
