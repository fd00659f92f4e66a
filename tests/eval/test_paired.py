import math

import pytest

from livetalk.eval.paired import paired_differences


def test_paired_difference_removes_the_spread_between_clips():
    # clip difficulty varies a lot; B is uniformly 0.5 dB worse, give or take ±0.1
    a = {f"c{i}": {"psnr": 20.0 + 3 * i} for i in range(10)}
    b = {f"c{i}": {"psnr": 19.5 + 3 * i + (0.1 if i % 2 else -0.1)} for i in range(10)}
    d = paired_differences(a, b, ("psnr",))["psnr"]
    assert d["clips"] == 10
    assert d["diff"] == pytest.approx(0.5)
    assert d["sem"] == pytest.approx(math.sqrt(0.1 ** 2 * 10 / 9 / 10))  # sample std 0.105…, n = 10
    assert d["sem"] < 0.05  # unpaired, each mean's s.e. is ~2.9 dB


def test_only_common_finite_clips_count_and_no_common_clip_is_an_error():
    a = {"x": {"psnr": 1.0, "flicker": float("nan")}, "y": {"psnr": 3.0, "flicker": 1.0}, "z": {"psnr": 9.0}}
    b = {"x": {"psnr": 0.0, "flicker": 0.5}, "y": {"psnr": 1.0, "flicker": 0.5}}
    d = paired_differences(a, b, ("psnr", "flicker", "ssim"))
    assert d["psnr"] == {"diff": 1.5, "sem": pytest.approx(0.5), "clips": 2}
    assert d["flicker"]["clips"] == 1 and d["flicker"]["sem"] == 0.0
    assert "ssim" not in d
    with pytest.raises(ValueError, match="share no"):
        paired_differences({"p": {"psnr": 1.0}}, {"q": {"psnr": 1.0}})
