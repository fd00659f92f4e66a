"""scripts/paired_metrics.py: per-clip metrics cached per model, and --refresh for videos that were remade."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from livetalk.data.clip import ClipConfig
from livetalk.data.dataset import TalkingHeadDataset
from livetalk.data.media import write_video
from livetalk.data.synth import synth_dataset

SCRIPT = Path(__file__).parents[2] / "scripts" / "paired_metrics.py"


def _write(folder: Path, ds: TalkingHeadDataset, gain: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(len(ds)):
        write_video(folder / f"{ds[i].id}.mp4", (ds[i].frames[:17] * gain).astype(np.uint8))


def _psnr_diff(tmp_path: Path, *extra: str) -> float:
    r = subprocess.run([sys.executable, str(SCRIPT), "--videos", str(tmp_path / "videos"), "--reference",
                        str(tmp_path / "world"), "--cache", str(tmp_path / "clips.json"), "--pairs", "a:b", *extra],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.split("\n| A")[0])["a − b"]["psnr"]["diff"]


def test_refresh_rescores_remade_videos_instead_of_the_cached_ones(tmp_path):
    synth_dataset(tmp_path / "world", 2, ClipConfig(duration_s=1.2))
    ds = TalkingHeadDataset(tmp_path / "world", load_tracks=False)
    _write(tmp_path / "videos" / "a", ds, 1.0)  # the truth itself
    _write(tmp_path / "videos" / "b", ds, 0.8)
    first = _psnr_diff(tmp_path)
    assert first > 0  # a is the truth, b is darker
    _write(tmp_path / "videos" / "a", ds, 0.6)  # a remade, darker than b now
    assert _psnr_diff(tmp_path) == first  # the cache answers: stale
    assert _psnr_diff(tmp_path, "--refresh", "a") < 0  # scored again
