"""scripts/gpu_tiny_lineage.sh: `pack` keeps a checkpoint's metadata (the still-cond mark) while halving it; `student`
passes the DMD guidance knobs through."""

import os
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


def _student_calls(tmp_path, **env) -> list[str]:
    """`student` with a stub `livetalk` on PATH that records its arguments, one call per line."""
    stub = tmp_path / "bin" / "livetalk"
    stub.parent.mkdir()
    stub.write_text(f'#!/bin/bash\necho "$*" >> {tmp_path / "calls.txt"}\n')
    stub.chmod(0o755)
    run_env = {**os.environ, "PATH": f"{stub.parent}:{os.environ['PATH']}", "DEVICE": "cpu", **env}
    r = subprocess.run(["bash", str(SCRIPT), "student", str(tmp_path / "out")], capture_output=True, text=True,
                       timeout=120, env=run_env)
    assert r.returncode == 0, r.stderr[-2000:]
    return (tmp_path / "calls.txt").read_text().splitlines()


def test_student_passes_audio_guidance_only_when_set(tmp_path):
    (tmp_path / "a").mkdir()
    ode, dmd = _student_calls(tmp_path / "a", ODE_CFG="1", DMD_GUIDANCE="1", DMD_AUDIO_GUIDANCE="3")
    assert ode.startswith("train ode") and "teacher_text_scale=1 teacher_audio_scale=1" in ode
    assert dmd.startswith("train dmd") and " guidance=1 " in dmd and " audio_guidance=3 " in dmd
    (tmp_path / "b").mkdir()
    _, dmd = _student_calls(tmp_path / "b", DMD_GUIDANCE="0")
    assert " guidance=0 " in dmd and "audio_guidance" not in dmd


def test_student_passes_a_separate_ode_audio_scale(tmp_path):
    ode, _ = _student_calls(tmp_path, ODE_CFG="1", ODE_AUDIO_CFG="3")
    assert "teacher_text_scale=1 teacher_audio_scale=3" in ode
