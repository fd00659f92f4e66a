"""scripts/gpu_tiny_lineage.sh: `pack` keeps a checkpoint's metadata (the still-cond mark) while halving it."""

import subprocess
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

SCRIPT = Path(__file__).parents[2] / "scripts" / "gpu_tiny_lineage.sh"


def test_pack_halves_floats_and_keeps_metadata(tmp_path):
    src, dst = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    t = {"w": torch.randn(4, 3), "step": torch.tensor([7], dtype=torch.int64)}
    save_file(t, str(src), metadata={"livetalk_cond": "still-video", "stage": "teacher"})
    r = subprocess.run(["bash", str(SCRIPT), "pack", str(src), str(dst)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    with safe_open(str(dst), "pt") as f:
        assert f.metadata() == {"livetalk_cond": "still-video", "stage": "teacher"}
        assert f.get_tensor("w").dtype == torch.float16 and torch.equal(f.get_tensor("w"), t["w"].half())
        assert torch.equal(f.get_tensor("step"), t["step"])


def test_usage_without_a_stage():
    r = subprocess.run(["bash", str(SCRIPT), "nope", "x"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "chain" in r.stdout and "student OUT_DIR" in r.stdout and "ODE_CFG" in r.stdout
