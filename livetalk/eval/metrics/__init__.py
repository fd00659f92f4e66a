"""Evaluation metrics. Probe-free: fidelity (PSNR/SSIM), artifacts (black/blank frames, flicker, collapse),
Fréchet distance, lip-sync from openness tracks. Probe-based wrappers live in `livetalk.eval.features`."""
