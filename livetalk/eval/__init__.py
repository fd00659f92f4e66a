"""Evaluation against the synthetic world: probes (face state, identity, motion), metrics (Fréchet
distances, lip sync, identity, text following, artifacts, PSNR/SSIM) and the `livetalk eval` command.
See docs/eval.md. `EvalConfig`, `evaluate_clip`, `evaluate_dirs` are imported lazily (torch)."""

__all__ = ["EvalConfig", "evaluate_clip", "evaluate_dirs"]


def __getattr__(name: str):
    if name in __all__:
        from . import evaluate

        return getattr(evaluate, name)
    raise AttributeError(f"module 'livetalk.eval' has no attribute {name!r}")
