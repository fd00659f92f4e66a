import json
import shutil

import numpy as np
import pytest

from livetalk.cli import main
from livetalk.data.dataset import TalkingHeadDataset, read_manifest
from livetalk.data.media import read_video, write_video


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    assert main(["data", "synth", "--n", "2", "--out", str(out), "--duration", "2", "--seed", "5"]) == 0
    return out


def test_manifest_layout(synth_dir):
    entries = read_manifest(synth_dir)
    assert len(entries) == 2
    for e in entries:
        for k in ("id", "prompt", "image", "audio", "video", "tracks", "duration_s", "fps"):
            assert k in e
        assert e["fps"] == 16 and e["duration_s"] == 2.0
        for k in ("image", "audio", "video", "tracks"):
            assert (synth_dir / e[k]).exists()
    stats = json.loads((synth_dir / "synth_stats.json").read_text())
    assert stats["clips"] == 2 and stats["clips_per_s"] > 0


def test_loader_reads_clip(synth_dir):
    ds = TalkingHeadDataset(synth_dir)
    s = ds[0]
    assert s.frames.shape == (32, 64, 64, 3) and s.frames.dtype == np.uint8
    assert s.audio.dtype == np.float32 and len(s.audio) == 32000
    assert s.reference.shape == (64, 64, 3)
    assert s.tracks["mouth_open"].shape == (32,)
    assert ds.by_id(s.id).prompt == s.prompt


def test_real_style_folder_without_optional_files(tmp_path, synth_dir):
    """Only id/video/prompt: reference falls back to frame 0, audio to the mp4's audio track."""
    src = TalkingHeadDataset(synth_dir).entries[0]
    (tmp_path / "v").mkdir()
    shutil.copy(synth_dir / src["video"], tmp_path / "v" / "a.mp4")
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"id": "a", "video": "v/a.mp4", "prompt": "hi"}) + "\n")
    s = TalkingHeadDataset(tmp_path)[0]
    assert s.tracks is None and s.reference.shape == (64, 64, 3)
    assert abs(len(s.audio) - 32000) < 2000


def test_bad_manifest_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path)
    (tmp_path / "manifest.jsonl").write_text('{"id": "a"}\n')
    with pytest.raises(ValueError, match="video"):
        read_manifest(tmp_path)


def test_video_roundtrip(tmp_path):
    frames = np.zeros((8, 32, 32, 3), np.uint8)
    frames[:, 8:24, 8:24] = 200
    write_video(tmp_path / "x.mp4", frames)
    back, fps = read_video(tmp_path / "x.mp4")
    assert back.shape == frames.shape and fps == 16
    assert np.abs(back.astype(int) - frames).mean() < 6
    with pytest.raises(ValueError):
        write_video(tmp_path / "y.mp4", frames.astype(np.float32))


def test_grid_command(tmp_path):
    out = tmp_path / "g.png"
    assert main(["data", "grid", "--n", "5", "--cols", "3", "--out", str(out)]) == 0
    from livetalk.data.media import read_png

    assert read_png(out).shape == (128, 192, 3)
