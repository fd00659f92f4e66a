"""condition_use: a model whose audio path is cut scores equal losses with true and swapped audio; a model
that uses audio does not; causal mode passes per-frame timesteps and the block size."""

import pytest
import torch

from livetalk.distill.batch import random_batch
from livetalk.distill.diagnostics import condition_use
from livetalk.models.config import get_preset
from livetalk.models.dit import build_dit

MICRO = get_preset("micro")


def _model(seed: int = 0):
    torch.manual_seed(seed)
    return build_dit(MICRO).eval()


def test_cut_audio_path_shows_no_gap_and_a_live_one_does():
    b = random_batch(MICRO, batch=3, frames=3, lat=4, seed=1)
    m = _model()
    with torch.no_grad():  # random init zeroes some output layers: make every path carry signal
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    live = condition_use(m, b, timesteps=(500.0,))
    assert abs(live["audio"]["true"] - live["audio"]["other"]) > 1e-4
    assert abs(live["text"]["true"] - live["text"]["other"]) > 1e-4
    with torch.no_grad():
        for proj in m.audio_cond_projs:
            proj.weight.zero_()
            proj.bias.zero_()
    cut = condition_use(m, b, timesteps=(500.0,))
    assert cut["audio"]["true"] == cut["audio"]["other"] == cut["audio"]["zero"]
    assert abs(cut["text"]["true"] - cut["text"]["other"]) > 1e-4  # the text path still counts
    assert set(cut["per_t"]) == {"500.0"}


def test_causal_mode_and_errors():
    b = random_batch(MICRO, batch=2, frames=3, lat=4, seed=2)
    r = condition_use(_model(), b, timesteps=(300.0, 700.0), causal_block=3)
    assert set(r["audio"]) == {"true", "other", "zero"} and set(r["text"]) == {"true", "other", "negative"}
    with pytest.raises(ValueError, match="at least 2"):
        condition_use(_model(), random_batch(MICRO, batch=1, frames=3, lat=4))
