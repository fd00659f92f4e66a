"""Mean and standard error over clips, the one convention switch (population or sample std) made explicit."""

from __future__ import annotations

import numpy as np


def mean_sem(x, ddof: int = 0) -> tuple[float, float]:
    """Per-clip values `[N]` → (mean, standard error = std with `ddof` / √N). One value has standard error 0."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        raise ValueError("mean_sem of no values")
    sem = float(x.std(ddof=ddof) / np.sqrt(len(x))) if len(x) > 1 else 0.0
    return float(x.mean()), sem
