"""Evaluation against the synthetic world: probes (face state, identity, motion), metrics (Fréchet
distances, lip sync, identity, text following, artifacts, PSNR/SSIM) and the `livetalk eval` command.
See docs/eval.md."""
