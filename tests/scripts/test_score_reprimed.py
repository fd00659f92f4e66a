"""`scripts/score_reprimed.sh` threads `VAE=…` into every decode it runs (windows, re-primed long streams, the still
and windowed-truth baselines): a student whose eval latents another VAE encoded must be decoded by that VAE, or its
pixels mean nothing. The script's Python steps are replaced by a stub `python` that records its arguments."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "score_reprimed.sh"


def _run(tmp_path: Path, vae: str | None) -> list[list[str]]:
    data = tmp_path / "data"
    (data / "world_eval2").mkdir(parents=True)
    for f in ("eval2.pt", "eval_long2.pt"):
        (data / f).write_bytes(b"")
    ckpt = tmp_path / "student.safetensors"
    ckpt.write_bytes(b"")
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "calls.log"
    stub = bin_ / "python"
    stub.write_text(f'#!/bin/bash\nprintf "%s\\x1f" "$@" >> {log}\necho >> {log}\n')
    stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}"}
    env.pop("VAE", None)
    if vae is not None:
        env["VAE"] = vae
    r = subprocess.run(["bash", str(SCRIPT), str(data), "2", "arm", str(ckpt)], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [line.rstrip("\x1f").split("\x1f") for line in log.read_text().splitlines() if line]


def _decodes(calls: list[list[str]]) -> list[list[str]]:
    """The calls that turn latents into pixels (tiny_distill.py only samples latents; paired_metrics.py and
    `--pair` / `motion` read pixels or latents already made)."""
    out = []
    for c in calls:
        tool = Path(c[0]).name
        if tool in ("tiny_eval.py", "still_baseline.py") and c[1] != "motion":
            out.append(c)
        elif tool == "reprime_check.py" and "--pair" not in c:
            out.append(c)
    return out


def test_vae_reaches_every_decode(tmp_path):
    vae = tmp_path / "other_vae.safetensors"
    vae.write_bytes(b"")
    decodes = _decodes(_run(tmp_path, str(vae)))
    assert len(decodes) == 8  # windows, long streams, 2 stills, windowed truth, baseline windows, 2 baseline streams
    for c in decodes:
        if Path(c[0]).name == "reprime_check.py":
            assert c[c.index("--new") + 1] == f"vae={vae}:reprimed", c
        else:
            assert c[c.index("--vae") + 1] == str(vae), c


def test_default_is_the_shipped_vae(tmp_path):
    decodes = _decodes(_run(tmp_path, None))
    assert len(decodes) == 8
    for c in decodes:
        assert "--vae" not in c
        if Path(c[0]).name == "reprime_check.py":
            assert c[c.index("--new") + 1] == "vae:reprimed"


def test_missing_vae_file_stops(tmp_path):
    data = tmp_path / "d"
    (data / "world_eval").mkdir(parents=True)
    for f in ("eval.pt", "eval_long.pt"):
        (data / f).write_bytes(b"")
    (tmp_path / "s.safetensors").write_bytes(b"")
    r = subprocess.run(["bash", str(SCRIPT), str(data), "", "arm", str(tmp_path / "s.safetensors")],
                       env={**os.environ, "VAE": str(tmp_path / "nope.safetensors")}, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0 and "nope.safetensors" in r.stderr
