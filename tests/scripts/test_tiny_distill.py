"""scripts/tiny_distill.py: which models `generate` / `generate-long` sample, and with which teacher settings."""

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "tiny_distill.py"


def _load():
    spec = importlib.util.spec_from_file_location("tiny_distill_under_test", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _calls(monkeypatch, tmp_path, *extra, only="generate-long"):
    mod = _load()
    calls = []
    monkeypatch.setattr(mod, "generate", lambda models, spec, out, device, **kw: calls.append((models, spec, kw)))
    monkeypatch.setattr(sys, "argv", ["tiny_distill.py", "--data", "d.pt", "--eval", "e.pt", "--out", str(tmp_path),
                                      "--only", only, "--eval-long", "long.pt", *extra])
    mod.main()
    assert len(calls) == 1
    return calls[0]


def test_generate_long_streams_the_students_by_default(monkeypatch, tmp_path):
    models, spec, kw = _calls(monkeypatch, tmp_path)
    assert spec == "long.pt" and kw["prefix"] == "long_"
    assert "teacher" not in models and {"ode-converged", "dmd-livetalk"} <= set(models)
    assert all(role == "student" for _, role, _ in models.values())


def test_generate_long_samples_the_teacher_whole_only_when_named(monkeypatch, tmp_path):
    models, _, kw = _calls(monkeypatch, tmp_path, "--models", "teacher", "dmd-livetalk",
                           "--teacher-eval-steps", "16", "--teacher-eval-cfg", "1")
    assert set(models) == {"teacher", "dmd-livetalk"}
    path, role, variant = models["teacher"]
    assert role == "teacher" and variant == "clean" and path == tmp_path / "teacher" / "teacher.safetensors"
    assert kw["teacher_steps"] == 16 and kw["cfg_scale"] == 1.0
    assert kw["audio_cfg_scale"] is None  # unset: the audio scale follows the text one


def test_generate_passes_a_separate_teacher_audio_scale(monkeypatch, tmp_path):
    _, spec, kw = _calls(monkeypatch, tmp_path, "--models", "teacher", "--teacher-eval-cfg", "1",
                         "--teacher-eval-audio-cfg", "3", only="generate")
    assert spec == "e.pt" and kw["cfg_scale"] == 1.0 and kw["audio_cfg_scale"] == 3.0
