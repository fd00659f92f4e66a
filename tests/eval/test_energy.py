"""Energy score: lowest for samples from the true conditional distribution, not for its mean."""

import pytest
import torch

from livetalk.eval.metrics.energy import energy_score


def _units(n=4000, d=16, seed=0):
    """Each unit: a known centre (the condition's mean) and a truth drawn around it with spread 1."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.randn(n, d, generator=g) * 3
    truth = centre + torch.randn(n, d, generator=g)
    return centre, truth, g


def test_true_distribution_beats_its_mean_and_wrong_spreads():
    centre, truth, g = _units()
    scores = {}
    for name, sigma in [("mean", 0.0), ("narrow", 0.4), ("true", 1.0), ("wide", 2.0)]:
        samples = centre[None] + sigma * torch.randn(2, *centre.shape, generator=g)
        scores[name] = energy_score(samples, truth)["score"].mean().item()
    assert scores["true"] < scores["narrow"] < scores["mean"]
    assert scores["true"] < scores["wide"]


def test_a_deterministic_model_scores_its_error():
    centre, truth, _ = _units(n=10)
    r = energy_score(torch.stack([centre, centre, centre]), truth)
    assert torch.equal(r["spread"], torch.zeros(10, dtype=torch.float64))
    torch.testing.assert_close(r["score"], r["error"])
    torch.testing.assert_close(r["error"], (centre - truth).double().square().mean(1).sqrt())


def test_bad_shapes_are_errors():
    with pytest.raises(ValueError, match="S >= 2"):
        energy_score(torch.zeros(1, 3, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="matching truth"):
        energy_score(torch.zeros(2, 3, 4), torch.zeros(3, 5))
