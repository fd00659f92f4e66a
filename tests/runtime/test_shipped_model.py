"""The shipped tiny checkpoints load with their expected layouts and `livetalk demo` runs end to end."""

import json

import numpy as np
import pytest

from livetalk.cli import main as cli_main
from livetalk.models.checkpoint import checkpoint_info
from livetalk.runtime.tiny import TINY_STUDENT, WEIGHTS

pytestmark = pytest.mark.skipif(not TINY_STUDENT.exists(), reason="shipped tiny student not present")


def test_shipped_dit_checkpoints_have_tiny_layout():
    for name in ("tiny_student.safetensors", "tiny_teacher.safetensors"):
        info = checkpoint_info(WEIGHTS / name)
        assert info["preset"] == "tiny", info


def test_demo_cli_writes_video_with_sound(tmp_path, capsys):
    from livetalk.data.media import read_video

    out = tmp_path / "demo.mp4"
    assert cli_main(["demo", "--text", "Hi there.", "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    frames, fps = read_video(out)
    assert fps == 16 and frames.shape[1:] == (64, 64, 3) and len(frames) == report["frames"] >= 9
    assert frames.std() > 5  # not a blank video

    import av

    with av.open(str(out)) as box:
        assert box.streams.audio, "demo video has no audio track"
    assert np.isfinite(report["fps"]) and report["first_chunk_s"] > 0
