"""Probe-based metrics with the shipped weights, on controlled corruptions of ground-truth renders."""

import json

import numpy as np
import pytest

from livetalk.data.clip import ClipConfig, make_clip, plan_clip
from livetalk.data.dataset import Sample
from livetalk.data.render import render_frames
from livetalk.eval import features as feat
from livetalk.eval.evaluate import evaluate_clip
from livetalk.eval.probes import WEIGHTS_DIR

pytestmark = pytest.mark.skipif(not (WEIGHTS_DIR / "face_state.safetensors").exists(), reason="no probe weights")


def as_sample(clip) -> Sample:
    return Sample(clip.id, clip.prompt, clip.frames, clip.audio, clip.reference, 16.0, clip.tracks, {})


@pytest.fixture(scope="module")
def clip():
    return make_clip(900_123, ClipConfig(duration_s=4.0, motion="nod"))


def shift(x, k):
    return x[np.clip(np.arange(len(x)) - k, 0, len(x) - 1)]


def test_probe_weights_small():
    total = sum(p.stat().st_size for p in WEIGHTS_DIR.glob("*.safetensors"))
    assert total < 5 * 2 ** 20


def test_mouth_probe_follows_track(clip):
    pred = feat.mouth_openness(clip.frames)
    assert np.corrcoef(pred, clip.tracks["mouth_open"])[0, 1] > 0.8


def test_ground_truth_scores_well(clip):
    m = evaluate_clip(clip.frames, as_sample(clip)).metrics
    assert m["psnr"] == 60.0 and m["black_rate"] == 0
    assert m["sync_offset"] == 0 and m["sync_corr"] > 0.8
    assert m["identity_sim"] > 0.9
    assert m["motion_pred"] == "nod" and m["motion_correct"] == 1.0


@pytest.mark.parametrize("k", [-2, 3])
def test_shifted_video_offset_found(clip, k):
    m = evaluate_clip(shift(clip.frames, k), as_sample(clip)).metrics
    assert m["sync_offset"] == k
    assert m["sync_corr"] < 0.7


def test_identity_swap_drops_score(clip):
    p = plan_clip(900_123, ClipConfig(duration_s=4.0, motion="nod", identity_seed=900_124))
    other = render_frames(p.identity, p.state, 64)
    ref = as_sample(clip)
    same = evaluate_clip(clip.frames, ref).metrics["identity_sim"]
    swapped = evaluate_clip(other, ref).metrics["identity_sim"]
    assert swapped < same - 0.2


def test_identity_drift_detected(clip):
    """Frames morph progressively into another identity → positive drift; ground truth ≈ no drift."""
    p = plan_clip(900_123, ClipConfig(duration_s=4.0, motion="nod", identity_seed=900_125))
    other = render_frames(p.identity, p.state, 64).astype(np.float64)
    a = np.linspace(0, 1, len(other))[:, None, None, None]
    morph = ((1 - a) * clip.frames + a * other).round().astype(np.uint8)
    ref = as_sample(clip)
    assert evaluate_clip(morph, ref).metrics["identity_drift"] > 0.2
    assert abs(evaluate_clip(clip.frames, ref).metrics["identity_drift"]) < 0.05


def test_black_frames_counted_in_eval(clip):
    f = clip.frames.copy()
    f[10:14] = 0
    m = evaluate_clip(f, as_sample(clip)).metrics
    assert m["black_rate"] == 4 / len(f)
    assert m["psnr"] < 60


@pytest.mark.parametrize("motion", ["shake", "turn", "tilt"])
def test_motion_classifier_reads_prompted_motion(motion):
    c = make_clip(900_200, ClipConfig(duration_s=3.0, motion=motion))
    assert MOTION(c) == motion


def MOTION(c):
    from livetalk.data.motion import MOTIONS

    return MOTIONS[int(np.argmax(feat.motion_logits(feat.face_states(c.frames))))]


def test_cli_eval_end_to_end_deterministic(tmp_path):
    from livetalk.cli import main

    ref = tmp_path / "ref"
    assert main(["data", "synth", "--n", "2", "--out", str(ref), "--duration", "3", "--seed", "900300"]) == 0
    out1, out2 = tmp_path / "o1", tmp_path / "o2"
    assert main(["eval", "--generated", str(ref), "--reference", str(ref), "--out", str(out1)]) == 0
    assert main(["eval", "--generated", str(ref), "--reference", str(ref), "--out", str(out2)]) == 0
    a, b = (out1 / "eval.json").read_text(), (out2 / "eval.json").read_text()
    assert a == b
    res = json.loads(a)
    assert res["summary"]["clips"] == 2 and res["summary"]["psnr"] == 60.0
    assert res["summary"]["fd_frames"] < 1e-3
    assert "| psnr |" in (out1 / "eval.md").read_text()
