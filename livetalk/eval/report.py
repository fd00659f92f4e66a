"""Markdown rendering of evaluation results."""

from __future__ import annotations

# metric → (description, better direction)
METRICS = {
    "fd_frames": ("Fréchet distance, frames (FID analogue, identity-probe features)", "↓"),
    "fd_clips": ("Fréchet distance, 3 s clips (FVD analogue, motion ‖ identity features)", "↓"),
    "psnr": ("PSNR vs ground-truth render (dB)", "↑"),
    "ssim": ("SSIM vs ground-truth render", "↑"),
    "sync_corr": ("Lip sync: openness correlation at lag 0 (Sync-C analogue)", "↑"),
    "sync_best_corr": ("Lip sync: correlation at best lag", "↑"),
    "sync_offset_median": ("Lip sync: best-lag offset, median (frames; Sync-D analogue)", "→0"),
    "sync_offset_abs_mean": ("Lip sync: mean |offset| (frames)", "↓"),
    "sync_mae": ("Lip sync: mean |openness error|", "↓"),
    "identity_sim": ("Identity: cosine similarity to reference image", "↑"),
    "identity_sim_min": ("Identity: worst-frame similarity", "↑"),
    "identity_drift": ("Identity: similarity drop first→last 10%", "↓"),
    "identity_sim_reference": ("Identity: same score on the ground-truth render (ceiling)", "·"),
    "text_accuracy": ("Text following: motion-classifier accuracy vs prompt", "↑"),
    "flicker": ("Flicker: temporal 2nd-difference energy (luma)", "↓"),
    "flicker_reference": ("Flicker of the ground-truth render", "·"),
    "black_rate": ("Black-frame rate", "↓"),
    "blank_rate": ("Blank (uniform) frame rate", "↓"),
    "psnr_drop": ("Quality collapse: PSNR first→last 10% (dB)", "↓"),
    "sharpness_ratio": ("Quality collapse: late/early sharpness, relative to ground truth", "→1"),
}


def markdown_table(summary: dict) -> str:
    """Summary dict → markdown table (known metrics in a fixed order, then any others)."""
    lines = ["| metric | value | better | meaning |", "|---|---:|:---:|---|"]
    keys = [k for k in METRICS if k in summary] + [k for k in summary if k not in METRICS]
    for k in keys:
        desc, better = METRICS.get(k, ("", ""))
        v = summary[k]
        val = f"{v:.4g}" if isinstance(v, float) else str(v)
        lines.append(f"| {k} | {val} | {better} | {desc} |")
    return "\n".join(lines) + "\n"
