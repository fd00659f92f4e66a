"""scripts/tiny_eval.py --decode-only: the videos for paired_metrics.py, without the eval suite or an --out file."""

import subprocess
import sys
from pathlib import Path

import torch

from livetalk.data.clip import ClipConfig
from livetalk.data.dataset import TalkingHeadDataset
from livetalk.data.synth import synth_dataset
from livetalk.models.vae import frames_to_video
from livetalk.models.vae_tiny import load_tiny_vae

SCRIPT = Path(__file__).parents[2] / "scripts" / "tiny_eval.py"


def test_decode_only_writes_one_video_per_clip_and_no_scores(tmp_path):
    synth_dataset(tmp_path / "world", 2, ClipConfig(duration_s=1.2))
    ds = TalkingHeadDataset(tmp_path / "world", load_tracks=False)
    vae = load_tiny_vae()
    with torch.no_grad():
        z = torch.cat([vae.encode(frames_to_video(ds[i].frames[:9])) for i in range(2)])  # [2, 3, 16, h, w]
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"latents": z.half(), "ids": [f"{ds[i].id}#0" for i in range(2)]}, run / "gen_m.pt")
    out = tmp_path / "scores.json"
    r = subprocess.run([sys.executable, str(SCRIPT), "--run", str(run), "--reference", str(tmp_path / "world"),
                        "--models", "m", "--decode-only", "--out", str(out)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.stem for p in (run / "videos_gen" / "m").glob("*.mp4")) == sorted(ds[i].id for i in range(2))
    assert not out.exists() and not (run / "videos_gen" / "vae-ceiling").exists()
