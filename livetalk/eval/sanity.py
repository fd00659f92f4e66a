"""Run every controlled corruption through the evaluator and tabulate key metrics (docs/eval.md)."""

from __future__ import annotations

from pathlib import Path

from .corrupt import corrupt_dataset
from .evaluate import EvalConfig, evaluate_dirs

CASES = (("copy", 0), ("shift", 3), ("shift", -2), ("black", 0.1), ("noise", 20), ("flicker", 10),
         ("blur_late", 6), ("freeze", 0), ("swap_identity", 1))
COLUMNS = ("fd_frames", "fd_clips", "psnr", "ssim", "sync_corr", "sync_offset_median", "identity_sim",
           "text_accuracy", "flicker", "black_rate", "psnr_drop", "sharpness_ratio")


def run_sanity(reference: str | Path, work: str | Path, cfg: EvalConfig = EvalConfig(),
               limit: int | None = None) -> str:
    """Corrupt `reference` each way under `work`, evaluate, and return a markdown table."""
    work = Path(work)
    rows = []
    for kind, amount in CASES:
        out = work / f"{kind}_{amount}"
        corrupt_dataset(reference, out, kind, amount, limit)
        s = evaluate_dirs(out, reference, cfg, limit)["summary"]
        rows.append((f"{kind} {amount}" if kind not in ("copy", "freeze") else kind, s))
    head = "| corruption | " + " | ".join(COLUMNS) + " |\n|---|" + "---:|" * len(COLUMNS) + "\n"
    body = ""
    for name, s in rows:
        body += f"| {name} | " + " | ".join(f"{s[c]:.3g}" if c in s else "–" for c in COLUMNS) + " |\n"
    return head + body
