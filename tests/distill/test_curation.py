"""Condition curation: degraded references are detected and repaired; prompts become motion-focused."""

import numpy as np
import pytest

from livetalk.distill.curation import assess_reference, degrade_reference, motion_focused_prompt, repair_reference


def face_like(size=64, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    img = np.zeros((size, size, 3), np.float32) + [0.3, 0.5, 0.7]
    face = ((xx - 0.5) ** 2 / 0.09 + (yy - 0.5) ** 2 / 0.16) < 1
    img[face] = [0.85, 0.65, 0.5]
    for ex in (0.4, 0.6):
        img[((xx - ex) ** 2 + (yy - 0.42) ** 2) < 0.002] = [0.1, 0.1, 0.1]
    img[(abs(xx - 0.5) < 0.1) & (abs(yy - 0.68) < 0.015)] = [0.6, 0.2, 0.2]
    img += rng.normal(0, 0.01, img.shape)
    return (img.clip(0, 1) * 255).astype(np.uint8)


def test_clean_image_has_no_problems():
    assert assess_reference(face_like()).problems() == []


@pytest.mark.parametrize("kind,problem", [("blur", "blurry"), ("dark", "dark"), ("lowres", "blurry")])
def test_degradations_detected_and_repaired(kind, problem):
    bad = degrade_reference(face_like(), kind)
    q = assess_reference(bad)
    assert problem in q.problems()
    fixed, actions = repair_reference(bad)
    assert fixed is not None and actions
    q2 = assess_reference(fixed)
    if problem == "dark":
        assert q2.brightness > q.brightness + 0.1
    else:
        assert q2.sharpness > 1.5 * q.sharpness


def test_tiny_image_upscaled_and_uniform_rejected():
    fixed, actions = repair_reference(face_like(32))
    assert fixed.shape[:2] == (64, 64) and "upscaled" in actions
    assert repair_reference(np.full((64, 64, 3), 128, np.uint8))[0] is None


def test_motion_focused_prompt():
    p = motion_focused_prompt("A young woman with red hair in a blue shirt nods and smiles while talking calmly.")
    assert p == "A person nodding, smiling, speaking calmly, facing the camera with clear lip movements."
    assert "speaking naturally" in motion_focused_prompt("A portrait of a man in a studio.")
