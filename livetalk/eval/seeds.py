"""Comparing training recipes when each was trained with several seeds: evaluation noise and seed spread, separated.

A recipe's score on the held-out set moves for two reasons: the finite set of evaluation units (clips, windows)
and the training run itself (its seed: initial noise, batch order, DMD's rollout noise). A paired difference of two
checkpoints over the same units (`livetalk.eval.paired`) removes the spread between units but says nothing about the
second: two runs of one recipe differ by more than their paired standard error (on the tiny world, 0.018 ± 0.008 in
audio following between two DMD seeds of one recipe, docs/results.md). This module estimates both and reports
recipe differences whose standard error contains both.

Model, per metric: value `y[r, s, u]` of recipe r, training seed s, evaluation unit u. Each run's mean over units
`M[r, s]` = recipe effect + seed effect (variance σ²_seed, the same for every recipe) + unit noise.

- σ²_seed: for each recipe with k ≥ 2 runs, the sample variance (ddof 1) of its runs' means over the shared units,
  less the part the finite units put there (the mean over runs of var_u(y[s, u] − mean_s' y[s', u]) / n_units,
  scaled by k / (k − 1)), pooled over recipes by degrees of freedom (Σ (k − 1)); clipped at 0.
- Difference of recipes a − b (each averaged over its runs, unit by unit): the paired mean over shared units, its
  evaluation standard error (paired, ddof 1), and its total standard error
  √(sem² + σ²_seed (1/k_a + 1/k_b)); a group marked `fixed` (one checkpoint compared *as itself*, e.g. the teacher
  the students were distilled from) adds no seed term.

With few runs σ²_seed has few degrees of freedom (2 runs of 3 recipes: 3); the output says how many.

Matched seeds. When every recipe was run with the same seeds, runs of one seed share their random draws (batch order,
rollout noise, exit steps), and part of the seed effect is common to all recipes: M[r, s] = μ_r + b_s + c_rs + noise.
b_s cancels when two recipes are compared seed by seed; only the recipe × seed interaction c_rs (variance σ²_int)
remains. σ²_int comes from the double-centred run means over the seeds every recipe has (two-way layout, (R − 1)
(S − 1) degrees of freedom), unit noise removed the same way; the matched difference averages a − b over their
common seeds, unit by unit, with total s.e. √(sem² + 2 σ²_int / S_ab). Both analyses are reported: the matched one
is the right one for a design with shared seeds, the independent one does not assume it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .metrics.stats import mean_sem


@dataclass
class RecipeRuns:
    """One recipe's runs: per run `{unit id: value}` of one metric. `fixed`: a single reference checkpoint, not a
    sample of a recipe (no seed term when compared)."""

    runs: list[dict[str, float]]
    fixed: bool = False
    seeds: list[int] = field(default_factory=list)  # each run's training seed, for the matched analysis

    @property
    def by_seed(self) -> bool:
        """Every run carries its seed: usable in the matched analysis (unless fixed)."""
        return not self.fixed and len(self.seeds) == len(self.runs)

    def runs_of(self, seeds: list[int]) -> list[dict[str, float]]:
        """The runs of these seeds, in their order."""
        return [self.runs[self.seeds.index(s)] for s in seeds]


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _shared_units(runs: list[dict[str, float]]) -> list[str]:
    units = set.intersection(*(set(u for u, v in r.items() if _finite(v)) for r in runs))
    return sorted(units)


def _matrix(runs: list[dict[str, float]], units: list[str]) -> np.ndarray:
    """`[k runs, n units]`."""
    return np.array([[r[u] for u in units] for r in runs], dtype=np.float64)


def seed_variance(groups: dict[str, RecipeRuns]) -> tuple[float, int]:
    """Pooled between-run variance σ²_seed of the per-run means (unit noise removed) and its degrees of freedom.

    Groups with one run or marked `fixed` contribute nothing; (nan, 0) when no group has two runs."""
    num, dof = 0.0, 0
    for g in groups.values():
        k = len(g.runs)
        if g.fixed or k < 2:
            continue
        units = _shared_units(g.runs)
        if len(units) < 2:
            raise ValueError("runs of one recipe share fewer than 2 evaluation units")
        y = _matrix(g.runs, units)
        n = y.shape[1]
        between = y.mean(axis=1).var(ddof=1)
        resid = y - y.mean(axis=0, keepdims=True)  # [k, n]: each run's deviation from the recipe's unit average
        noise = resid.var(axis=1, ddof=1).mean() / n * k / (k - 1)
        num += (k - 1) * (between - noise)
        dof += k - 1
    if dof == 0:
        return float("nan"), 0
    return max(0.0, num / dof), dof


def recipe_difference(a: RecipeRuns, b: RecipeRuns, sigma2_seed: float) -> dict:
    """a − b, each averaged over its runs unit by unit: `{"diff", "sem_eval", "sem_total", "units"}`.

    `sem_total` adds σ²_seed / k over each side that is not fixed; it equals `sem_eval` when both are fixed, and is
    None when a seed term is needed but σ²_seed is nan (no recipe had two runs): never a silent underestimate."""
    units = sorted(set(_shared_units(a.runs)) & set(_shared_units(b.runs)))
    if not units:
        raise ValueError("the two recipes share no evaluation unit")
    d = _matrix(a.runs, units).mean(axis=0) - _matrix(b.runs, units).mean(axis=0)
    diff, sem = mean_sem(d, ddof=1)
    seed_term = sum(0.0 if g.fixed else 1.0 / len(g.runs) for g in (a, b))
    if seed_term == 0.0:
        total = sem
    elif math.isnan(sigma2_seed):
        total = None
    else:
        total = math.sqrt(sem**2 + sigma2_seed * seed_term)
    return {"diff": diff, "sem_eval": sem, "sem_total": total, "units": len(units)}


def interaction_variance(groups: dict[str, RecipeRuns]) -> tuple[float, int]:
    """σ²_int of the recipe × seed interaction of run means and its degrees of freedom, from the seeds that every
    group not marked fixed has (unit noise removed); (nan, 0) with fewer than 2 such groups or common seeds."""
    live = [g for g in groups.values() if not g.fixed]
    if len(live) < 2 or not all(g.by_seed for g in live):
        return float("nan"), 0
    seeds = sorted(set.intersection(*(set(g.seeds) for g in live)))
    if len(seeds) < 2:
        return float("nan"), 0
    runs = [g.runs_of(seeds) for g in live]
    units = _shared_units([r for row in runs for r in row])
    if len(units) < 2:
        raise ValueError("the runs share fewer than 2 evaluation units")
    y = np.stack([_matrix(row, units) for row in runs])  # [R recipes, S seeds, n units]
    e = y - y.mean(axis=0, keepdims=True) - y.mean(axis=1, keepdims=True) + y.mean(axis=(0, 1), keepdims=True)
    dof = (y.shape[0] - 1) * (y.shape[1] - 1)
    between = float((e.mean(axis=2) ** 2).sum()) / dof
    noise = float(e.var(axis=2, ddof=1).sum()) / dof / y.shape[2]
    return max(0.0, between - noise), dof


def matched_difference(a: RecipeRuns, b: RecipeRuns, sigma2_int: float) -> dict | None:
    """a − b over the seeds both were run with, seed by seed and unit by unit: `{"diff", "sem_eval", "sem_total",
    "units", "seeds"}`; None when either side is fixed or unlabelled, or they share no seed. `sem_total` is None
    when σ²_int is nan."""
    if not (a.by_seed and b.by_seed):
        return None
    seeds = sorted(set(a.seeds) & set(b.seeds))
    if not seeds:
        return None
    ra, rb = a.runs_of(seeds), b.runs_of(seeds)
    units = sorted(set(_shared_units(ra)) & set(_shared_units(rb)))
    if not units:
        raise ValueError("the two recipes share no evaluation unit")
    diff, sem = mean_sem((_matrix(ra, units) - _matrix(rb, units)).mean(axis=0), ddof=1)
    total = None if math.isnan(sigma2_int) else math.sqrt(sem**2 + 2 * sigma2_int / len(seeds))
    return {"diff": diff, "sem_eval": sem, "sem_total": total, "units": len(units), "seeds": seeds}


def compare_recipes(groups: dict[str, RecipeRuns], pairs: list[tuple[str, str]]) -> dict:
    """Per-group means (over runs and shared units, plus each run's mean), σ_seed with its degrees of freedom, every
    pair's `recipe_difference`, and when runs carry seeds, σ_int and every pair's `matched_difference`."""
    s2, dof = seed_variance(groups)
    i2, idof = interaction_variance(groups)
    means = {}
    for name, g in groups.items():
        units = _shared_units(g.runs)
        y = _matrix(g.runs, units)
        means[name] = {"mean": float(y.mean()), "runs": [float(m) for m in y.mean(axis=1)], "units": len(units)}
    out = {"sigma_seed": math.sqrt(s2) if not math.isnan(s2) else None, "sigma_seed_dof": dof, "groups": means,
           "pairs": {f"{a} − {b}": recipe_difference(groups[a], groups[b], s2) for a, b in pairs}}
    if idof:
        out["sigma_interaction"], out["sigma_interaction_dof"] = math.sqrt(i2), idof
        out["matched"] = {f"{a} − {b}": m for a, b in pairs
                          if (m := matched_difference(groups[a], groups[b], i2)) is not None}
    return out


__all__ = ["RecipeRuns", "seed_variance", "recipe_difference", "interaction_variance", "matched_difference",
           "compare_recipes"]
