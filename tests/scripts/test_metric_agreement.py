"""scripts/metric_agreement.py: latent error and pixel PSNR of the same long streams, pooled over arms."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

SCRIPT = Path(__file__).parents[2] / "scripts" / "metric_agreement.py"
COLUMNS = ["psnr 0-32", "psnr 33-64", "psnr 65-96", "psnr 97-124", "flicker"]


def _arm(tmp_path, name, truth, ids, sigma, psnr_of_mse):
    gen = torch.Generator().manual_seed(hash(name) % 1000)
    x = truth + sigma[:, None, None, None, None] * torch.randn(truth.shape, generator=gen)
    torch.save({"latents": x, "ids": ids}, tmp_path / f"{name}.pt")
    streams = {}
    for k, wid in enumerate(ids):
        mse = [((x[k, a:b] - truth[k, a:b]) ** 2).mean().item() for a, b in ((1, 9), (9, 17), (17, 25), (25, 32))]
        streams[wid] = {"reprimed": [psnr_of_mse(m) for m in mse] + [2.0]}
    (tmp_path / f"{name}.json").write_text(json.dumps({"columns": COLUMNS, "streams": streams}))
    return f"{name}={tmp_path / f'{name}.pt'}:{tmp_path / f'{name}.json'}"


def _run(tmp_path, psnr_of_mse):
    ids = [f"{i}#0" for i in range(12)]
    truth = torch.randn(12, 32, 4, 2, 2, generator=torch.Generator().manual_seed(0))
    torch.save({"latents": truth, "ids": ids}, tmp_path / "truth.pt")
    arms = [_arm(tmp_path, n, truth, ids, torch.linspace(lo, lo + 0.2, 12), psnr_of_mse)
            for n, lo in (("near", 0.1), ("mid", 0.5), ("far", 1.0))]
    r = subprocess.run([sys.executable, str(SCRIPT), "--truth", str(tmp_path / "truth.pt"), *arms],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def test_views_that_agree_are_reported_as_agreeing(tmp_path):
    out = _run(tmp_path, lambda m: -10 * np.log10(m))
    assert out.count("Spearman(latent MSE, PSNR) = -1.00") == 4
    assert "ranks by latent near > mid > far; by pixels near > mid > far" in out
    assert "alike in 4 of 4 stretches" in out


def test_views_that_disagree_are_reported_as_differing(tmp_path):
    out = _run(tmp_path, lambda m: 10 * np.log10(m))  # pixels reward latent error: the opposite order
    assert out.count("Spearman(latent MSE, PSNR) = +1.00") == 4
    assert "(differ)" in out and "alike in 0 of 4 stretches" in out
