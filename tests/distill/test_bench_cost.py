"""`livetalk bench clip-cost`: the NFE column counts exactly the network passes the timed sampling makes, settings
parse or fail clearly, and a still-cond checkpoint is refused without its still latents (no silent fallback)."""

import json

import pytest
import torch

from livetalk.cli import main as cli_main
from livetalk.distill.bench_cost import Setting, passes_per_clip, time_setting
from livetalk.distill.data import LatentClips
from livetalk.models.checkpoint import COND_METADATA_KEY, save_dit
from livetalk.models.config import get_preset
from livetalk.models.dit import build_dit

MICRO = get_preset("micro")


def test_settings_parse_and_count():
    assert Setting.parse_teacher("48:3") == Setting("teacher", 48, 3.0, 3.0)
    assert Setting.parse_teacher("48:1:3") == Setting("teacher", 48, 1.0, 3.0)
    for bad in ["48", "x:3", "0:1", "2.5:1", "1:2:3:4"]:
        with pytest.raises(ValueError, match="STEPS:CFG"):
            Setting.parse_teacher(bad)
    assert Setting("teacher", 1).label() == "teacher, 1 step, CFG 1"
    assert Setting("teacher", 48, 1.0, 3.0).label() == "teacher, 48 steps, text CFG 1, audio CFG 3"
    assert passes_per_clip(Setting("student"), 9) == {"nfe": 12, "refresh": 3}
    assert passes_per_clip(Setting("student"), 8) == {"nfe": 12, "refresh": 3}  # a part block is a block
    got = [passes_per_clip(Setting.parse_teacher(s), 9)["nfe"] for s in ["48:3", "48:1", "48:1:3", "48:4.5:2", "1:1"]]
    assert got == [96, 48, 96, 144, 1]


@pytest.mark.parametrize("setting", [Setting("student"), Setting("teacher", 3, 1.0, 1.0),
                                     Setting("teacher", 3, 2.0, 2.0), Setting("teacher", 3, 1.0, 3.0),
                                     Setting("teacher", 2, 4.0, 2.0)])
def test_timed_sampling_makes_the_counted_passes(setting):
    data = LatentClips.random("micro", 3, 6, 4, seed=0)
    model = build_dit(MICRO, seed=0).eval()
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    row = time_setting(model, data, setting, clips=3, batch=3, warmup=False)
    assert row["clips"] == 3 and row["latent_frames"] == 6 and row["seconds_per_clip"] > 0
    assert len(calls) == row["nfe"] + row["refresh"]  # one batch: every pass covers all three clips


def test_cli_prints_rows_and_refuses_a_still_cond_checkpoint_without_its_latents(tmp_path, capsys):
    data = LatentClips.random("micro", 2, 6, 4, seed=0)
    path = tmp_path / "clips.pt"
    torch.save({"latents": data.latents, "ref": data.ref, "audio": data.audio, "context": data.context,
                "neg_context": data.neg_context}, path)
    model = build_dit(MICRO, seed=0)
    plain, still = save_dit(model, tmp_path / "s.safetensors"), tmp_path / "still.safetensors"
    save_dit(model, still, {COND_METADATA_KEY: "still-video"})
    argv = ["bench", "clip-cost", "--data", str(path), "--clips", "2", "--batch", "2", "--threads", "1"]
    assert cli_main(argv + ["--student", str(plain), "--teacher", str(plain), "--teacher-settings", "2:1", "2:3"]) == 0
    out = capsys.readouterr().out
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [(r["role"], r["nfe"], r["refresh"]) for r in rows] == [("student", 8, 2), ("teacher", 2, 0),
                                                                  ("teacher", 4, 0)]
    assert "| teacher, 2 steps, CFG 3 | 4 |" in out and "| student (4 steps per block) | 8 (+2 cache passes) |" in out
    with pytest.raises(SystemExit, match="still"):
        cli_main(argv + ["--student", str(still)])
    with pytest.raises(SystemExit, match="STEPS:CFG"):
        cli_main(argv + ["--teacher", str(plain), "--teacher-settings", "48"])
