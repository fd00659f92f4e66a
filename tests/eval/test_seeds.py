import math

import numpy as np
import pytest

from livetalk.eval.seeds import (RecipeRuns, compare_recipes, interaction_variance, matched_difference,
                                  recipe_difference, seed_variance)


def _runs(rng, effect, k, n, sigma_seed, tau, difficulty):
    """k runs of one recipe on n units: recipe effect + per-run shift (σ_seed) + unit difficulty + noise (τ)."""
    return [{f"u{u}": effect + shift + difficulty[u] + tau * rng.standard_normal() for u in range(n)}
            for shift in sigma_seed * rng.standard_normal(k)]


def test_seed_variance_recovers_the_spread_between_runs_and_ignores_unit_noise():
    rng = np.random.default_rng(0)
    n, difficulty = 200, 5.0 * rng.standard_normal(200)
    # many recipes of 3 runs each: the pooled estimate has 2 × 60 degrees of freedom
    groups = {f"r{i}": RecipeRuns(_runs(rng, i, 3, n, 0.3, 1.0, difficulty)) for i in range(60)}
    s2, dof = seed_variance(groups)
    assert dof == 120
    assert math.sqrt(s2) == pytest.approx(0.3, rel=0.15)
    # without a seed effect the estimate is the unit noise's share removed: near 0, far below τ² / n × 10
    flat = {f"r{i}": RecipeRuns(_runs(rng, i, 3, n, 0.0, 1.0, difficulty)) for i in range(60)}
    assert seed_variance(flat)[0] < 1.0 / n


def test_single_runs_and_fixed_groups_give_no_seed_estimate_and_no_silent_underestimate():
    a = RecipeRuns([{"x": 1.0, "y": 2.0, "z": 3.5}])
    t = RecipeRuns([{"x": 0.0, "y": 1.0, "z": 2.0}], fixed=True)
    assert seed_variance({"a": a, "t": t}) == (pytest.approx(float("nan"), nan_ok=True), 0)
    d = recipe_difference(a, t, float("nan"))
    assert d["diff"] == pytest.approx(7 / 6) and d["units"] == 3
    assert d["sem_total"] is None  # a needs a seed term nobody could estimate
    both_fixed = recipe_difference(RecipeRuns(a.runs, fixed=True), t, float("nan"))
    assert both_fixed["sem_total"] == both_fixed["sem_eval"]


def test_recipe_difference_averages_runs_unit_by_unit_and_adds_the_seed_term():
    a = RecipeRuns([{"x": 1.0, "y": 3.0}, {"x": 3.0, "y": 5.0}])  # unit means 2, 4
    b = RecipeRuns([{"x": 0.0, "y": 1.0, "w": 9.0}, {"x": 1.0, "y": 2.0}, {"x": 2.0, "y": 3.0}])  # 1, 2
    d = recipe_difference(a, b, 0.5)
    assert d["diff"] == pytest.approx(1.5) and d["units"] == 2
    assert d["sem_eval"] == pytest.approx(0.5)  # paired differences 1 and 2
    assert d["sem_total"] == pytest.approx(math.sqrt(0.25 + 0.5 * (1 / 2 + 1 / 3)))
    fixed = recipe_difference(a, RecipeRuns(b.runs, fixed=True), 0.5)
    assert fixed["sem_total"] == pytest.approx(math.sqrt(0.25 + 0.5 / 2))
    with pytest.raises(ValueError, match="share no"):
        recipe_difference(a, RecipeRuns([{"q": 1.0}]), 0.5)


def test_compare_recipes_reports_each_run_and_the_pairs():
    rng = np.random.default_rng(1)
    difficulty = rng.standard_normal(50)
    groups = {"plain": RecipeRuns(_runs(rng, 0.0, 2, 50, 0.1, 0.2, difficulty)),
              "better": RecipeRuns(_runs(rng, 1.0, 2, 50, 0.1, 0.2, difficulty))}
    out = compare_recipes(groups, [("better", "plain")])
    assert out["sigma_seed_dof"] == 2 and len(out["groups"]["plain"]["runs"]) == 2
    pair = out["pairs"]["better − plain"]
    assert pair["diff"] == pytest.approx(1.0, abs=0.5)
    assert pair["sem_total"] >= pair["sem_eval"]
    assert out["groups"]["better"]["mean"] == pytest.approx(np.mean(out["groups"]["better"]["runs"]))


def _matched(rng, effects, seeds, n, shared, interaction, tau, difficulty):
    """Recipes run with the same seeds: each seed's shift is shared by all recipes (σ `shared`) plus a recipe × seed
    part (σ `interaction`)."""
    b = {s: shared * rng.standard_normal() for s in seeds}

    def run(effect, seed):
        shift = effect + b[seed] + interaction * rng.standard_normal()  # one per recipe and seed
        return {f"u{u}": shift + difficulty[u] + tau * rng.standard_normal() for u in range(n)}

    return {f"r{i}": RecipeRuns([run(eff, s) for s in seeds], seeds=list(seeds)) for i, eff in enumerate(effects)}


def test_matched_seeds_cancel_the_shared_seed_effect():
    rng = np.random.default_rng(2)
    n, difficulty = 200, 3.0 * rng.standard_normal(200)
    groups = _matched(rng, [0.0, 0.5] + [0.0] * 38, range(6), n, 1.0, 0.1, 1.0, difficulty)
    i2, idof = interaction_variance(groups)
    assert idof == 39 * 5
    assert math.sqrt(i2) == pytest.approx(0.1, rel=0.2)
    assert math.sqrt(seed_variance(groups)[0]) > 0.5  # the independent analysis sees shared + interaction
    m = matched_difference(groups["r1"], groups["r0"], i2)
    assert m["seeds"] == list(range(6)) and m["diff"] == pytest.approx(0.5, abs=0.15)
    independent = recipe_difference(groups["r1"], groups["r0"], seed_variance(groups)[0])
    assert m["sem_total"] < independent["sem_total"] / 3
    out = compare_recipes(groups, [("r1", "r0")])
    assert out["sigma_interaction_dof"] == idof and "r1 − r0" in out["matched"]


def test_matched_difference_needs_labelled_shared_seeds_and_never_pairs_a_fixed_group():
    a = RecipeRuns([{"x": 1.0, "y": 2.0}, {"x": 2.0, "y": 4.0}], seeds=[1, 2])
    b = RecipeRuns([{"x": 0.0, "y": 1.0}, {"x": 9.0, "y": 9.0}], seeds=[1, 3])
    m = matched_difference(a, b, 0.04)
    assert m["seeds"] == [1] and m["diff"] == pytest.approx(1.0)  # seed 1 only: differences 1 and 1
    assert m["sem_total"] == pytest.approx(math.sqrt(0.0 + 2 * 0.04))
    assert matched_difference(a, RecipeRuns(b.runs, fixed=True, seeds=[1, 3]), 0.04) is None
    assert matched_difference(a, RecipeRuns(b.runs), 0.04) is None  # unlabelled
    assert matched_difference(a, RecipeRuns(b.runs[1:], seeds=[3]), 0.04) is None  # no common seed
    assert matched_difference(a, b, float("nan"))["sem_total"] is None
    assert interaction_variance({"a": a, "b": b}) == (pytest.approx(float("nan"), nan_ok=True), 0)  # 1 common seed
