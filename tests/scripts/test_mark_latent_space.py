"""`scripts/mark_latent_space.py` sets the latent-space mark on a DiT or fast decoder file, keeps its tensors bit
for bit, and refuses to re-mark a file of another space."""

import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from livetalk.models.checkpoint import LATENT_SPACE_METADATA_KEY, read_shapes, save_dit
from livetalk.models.dit import build_dit
from livetalk.models.vae_tiny import TINY_VAE_PATH, load_tiny_fast_decoder, load_tiny_vae

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mark_latent_space.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_marks_dit_and_fast_decoder_and_refuses_another_space(tmp_path):
    space = load_tiny_vae().latent_space_id()
    dit = save_dit(build_dit("micro", seed=0), tmp_path / "d.safetensors", {"stage": "ode"})
    fast = tmp_path / "f.safetensors"
    load_tiny_fast_decoder().save_file(fast)
    before = load_file(str(dit))
    r = _run("--vae", TINY_VAE_PATH, dit, fast)
    assert r.returncode == 0, r.stderr
    meta = read_shapes(dit)[1]
    assert meta[LATENT_SPACE_METADATA_KEY] == space and meta["stage"] == "ode"
    assert all(torch.equal(before[k], v) for k, v in load_file(str(dit)).items())
    assert load_tiny_fast_decoder(fast).vae_space == space
    other = tmp_path / "o.safetensors"
    save_dit(build_dit("micro", seed=0), other, {LATENT_SPACE_METADATA_KEY: "0123456789abcdef"})
    r = _run("--vae", TINY_VAE_PATH, other)
    assert r.returncode != 0 and "refusing" in r.stderr
    assert _run("--vae", TINY_VAE_PATH, "--force", other).returncode == 0
    assert read_shapes(other)[1][LATENT_SPACE_METADATA_KEY] == space
