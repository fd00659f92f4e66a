"""Probes that read the face state and the motion straight from tiny-VAE latents.

Why: the tiny VAE (`docs/vae.md`) keeps colours and layout but blurs the mouth away, so the pixel probes
read no lip motion even from ground truth passed through it (lip corr −0.08). The latents still carry
it (a linear read-out of ground-truth latents already correlates 0.56 with the mouth track), so lip sync
and text following of a latent model are scored *before* decoding, against the same ground-truth tracks.

- `LatentStateNet`: latents [B, F, 16, h, w] (normalised, as the DiTs see them) → face state per pixel
  frame [B, 4·(F − 1) + 1, 7] (STATE_KEYS), with latent frame k ≥ 1 covering pixel frames 4k − 3 … 4k
  and latent frame 0 pixel frame 0, as in the causal Wan VAE.
- The motion classifier is the pixel path's `MotionNet`, trained here on `LatentStateNet` read-outs.
- `evaluate_latents`: lip sync (`metrics.lipsync`) and text-following accuracy of generated latents,
  plus the mismatched-track control (each clip's read-out against another clip's track: chance level).

The weights only fit the latent space they were trained on (the shipped tiny VAE's encoder: VMH since session 38,
`report.json`'s `vae_space`);
`load_latent_probes` checks the latent layout and raises on any other.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.motion import MOTIONS
from ..models.vae import pixel_frames
from .features import windowed_motion_logits
from .metrics.lipsync import lagged_corr, lip_sync
from .metrics.stats import mean_sem
from .probes import STATE_KEYS, STATE_SCALE, WEIGHTS_DIR, MotionNet
from .train import train_loop

LATENT_WEIGHTS_DIR = WEIGHTS_DIR / "latent"
_STATE_W = torch.tensor([3.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0])  # mouth first: it is what lip sync reads


class LatentStateNet(nn.Module):
    """[B, F, z_dim, h, w] → [B, 4(F−1)+1, 7]: a per-frame conv trunk, a residual temporal conv over latent
    frames (receptive field ±2 latent frames), and 4 face states per latent frame."""

    def __init__(self, z_dim: int = 16, latent_hw: int = 8, width: int = 64, dim: int = 192, dropout: float = 0.0):
        super().__init__()
        self.z_dim, self.latent_hw = z_dim, latent_hw
        self.frame = nn.Sequential(
            nn.Conv2d(z_dim, width, 3, padding=1), nn.GELU(),
            nn.Conv2d(width, width, 3, padding=1), nn.GroupNorm(8, width), nn.GELU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.GroupNorm(8, 2 * width), nn.GELU(),
            nn.Flatten(), nn.Linear(2 * width * (latent_hw // 2) ** 2, dim),
        )
        self.time = nn.Sequential(nn.GELU(), nn.Conv1d(dim, dim, 3, padding=1), nn.GELU(),
                                  nn.Conv1d(dim, dim, 3, padding=1))
        self.head = nn.Sequential(nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, 4 * len(STATE_KEYS)))
        self.register_buffer("scale", torch.from_numpy(STATE_SCALE))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 5 or z.shape[2] != self.z_dim or z.shape[-2:] != (self.latent_hw, self.latent_hw):
            raise ValueError(f"latents must be [B, F, {self.z_dim}, {self.latent_hw}, {self.latent_hw}], got {tuple(z.shape)}")
        b, f = z.shape[:2]
        h = self.frame(z.flatten(0, 1).float()).view(b, f, -1)
        h = h + self.time(h.transpose(1, 2)).transpose(1, 2)
        s = self.head(h).view(b, f, 4, len(STATE_KEYS)) * self.scale
        return torch.cat([s[:, :1, 3], s[:, 1:].reshape(b, 4 * (f - 1), len(STATE_KEYS))], dim=1)


# ---------------------------------------------------------------------------------------------- data


def window_targets(ids: list[str], data_dir: str | Path, n_pix: int) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth tracks of latent windows "clip#start_frame" of a world folder (written by
    `livetalk data synth`): states float32 [N, n_pix, 7] (STATE_KEYS) and motion label index [N]."""
    root = Path(data_dir)
    states, labels, cache = [], [], {}
    for wid in ids:
        cid, _, p0 = wid.partition("#")
        if cid not in cache:
            path = root / "clips" / f"{cid}.npz"
            if not path.exists():
                raise FileNotFoundError(f"no tracks for clip {cid}: {path}")
            cache[cid] = dict(np.load(path))
        tr, p0 = cache[cid], int(p0 or 0)
        s = np.stack([tr[k][p0:p0 + n_pix] for k in STATE_KEYS], axis=1).astype(np.float32)
        if len(s) < n_pix:
            raise ValueError(f"clip {cid} has {len(s) + p0} frames, window {wid} needs {p0 + n_pix}")
        states.append(s)
        labels.append(int(tr["motion_label"]))
    return np.stack(states), np.array(labels)


def load_latent_file(path: str | Path) -> tuple[torch.Tensor, list[str]]:
    """A latent file (`prepare_latents` / generated `gen_*.pt`): latents float32 [N, F, C, h, w] and ids."""
    d = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(d, dict) or "latents" not in d or "ids" not in d:
        raise ValueError(f"{path}: not a latent file (expected a dict with 'latents' and 'ids')")
    return d["latents"].float(), list(d["ids"])


# ------------------------------------------------------------------------------------------ training


@dataclass
class LatentProbeConfig:
    """Budget and augmentation of `train_latent_probes` (steps, batch in windows, latent noise std)."""

    state_steps: int = 2000
    motion_steps: int = 1500
    batch: int = 32
    lr: float = 2e-3
    noise: float = 0.5  # latent augmentation: Gaussian noise of std U(0, noise) per window
    dropout: float = 0.3  # before the state head (training only)
    threads: int = 1
    seed: int = 0


@torch.no_grad()
def read_states(net: LatentStateNet, z: torch.Tensor, bs: int = 64) -> torch.Tensor:
    """Batched read-out: [N, F, C, h, w] → [N, 4(F−1)+1, 7]."""
    return torch.cat([net(z[i:i + bs]) for i in range(0, len(z), bs)])


def _noisy(z: torch.Tensor, noise: float, gen: torch.Generator) -> torch.Tensor:
    sigma = torch.rand(len(z), 1, 1, 1, 1, generator=gen) * noise
    return z + sigma * torch.randn(z.shape, generator=gen)


def train_latent_probes(train: tuple[torch.Tensor, list[str], str | Path],
                        heldout: tuple[torch.Tensor, list[str], str | Path],
                        cfg: LatentProbeConfig = LatentProbeConfig(), out_dir: str | Path | None = LATENT_WEIGHTS_DIR,
                        log=print) -> tuple[LatentStateNet, MotionNet, dict]:
    """Train both probes on (latents, ids, world folder) windows; score on the held-out windows; save the
    weights and `report.json` to `out_dir` (skipped when None). Returns (state net, motion net, report)."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    z, ids, root = train
    n_pix = pixel_frames(z.shape[1])
    y, labels = (torch.from_numpy(a) for a in window_targets(ids, root, n_pix))
    net = LatentStateNet(z_dim=z.shape[2], latent_hw=z.shape[-1], dropout=cfg.dropout)

    def state_loss(i: torch.Tensor) -> torch.Tensor:
        pred = net(_noisy(z[i], cfg.noise, gen))
        return (((pred - y[i]) / net.scale) ** 2 * _STATE_W).mean()

    log(f"latent state probe: {cfg.state_steps} steps on {len(z)} windows")
    train_loop(net, state_loss, len(z), cfg.state_steps, cfg.batch, cfg.lr, gen)

    # motion classifier on the state probe's read-outs (clean and noisy latents), as evaluation uses it
    reads = torch.cat([read_states(net, z), read_states(net, _noisy(z, cfg.noise, gen))])
    rlabels = torch.cat([labels, labels])
    err = (reads[: len(z)] - y).std(dim=(0, 1))
    motion = MotionNet()

    def motion_loss(i: torch.Tensor) -> torch.Tensor:
        x = reads[i] + torch.randn(reads[i].shape, generator=gen) * err * 0.3
        return F.cross_entropy(motion(x), rlabels[i])

    log(f"latent motion probe: {cfg.motion_steps} steps")
    train_loop(motion, motion_loss, len(reads), cfg.motion_steps, 64, cfg.lr, gen)
    report = {"config": asdict(cfg), "train_windows": len(z), "heldout": score_probes(net, motion, *heldout)}
    log(json.dumps(report["heldout"]))
    if out_dir is not None:
        save_latent_probes(net, motion, out_dir, report)
    return net, motion, report


@torch.no_grad()
def score_probes(net: LatentStateNet, motion: MotionNet, z: torch.Tensor, ids: list[str], root) -> dict:
    """Held-out quality of the probes on ground-truth latents: per-state correlation and MAE, motion accuracy,
    lip sync of the ground truth itself and the mismatched-track control."""
    states, labels = window_targets(ids, root, pixel_frames(z.shape[1]))
    pred = read_states(net, z).numpy()
    flat_p, flat_y = pred.reshape(-1, len(STATE_KEYS)), states.reshape(-1, len(STATE_KEYS))
    res = evaluate_readouts(pred, states, labels, motion)
    return {
        "windows": len(z),
        "corr": {k: round(float(np.corrcoef(flat_p[:, j], flat_y[:, j])[0, 1]), 4) for j, k in enumerate(STATE_KEYS)},
        "mae": {k: round(float(np.abs(flat_p[:, j] - flat_y[:, j]).mean()), 4) for j, k in enumerate(STATE_KEYS)},
        **res["summary"],
    }


# -------------------------------------------------------------------------------------- checkpoints


def save_latent_probes(net: LatentStateNet, motion: MotionNet, out_dir: str | Path, report: dict) -> None:
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"z_dim": str(net.z_dim), "latent_hw": str(net.latent_hw)}
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out / "latent_state.safetensors"), meta)
    save_file({k: v.contiguous() for k, v in motion.state_dict().items()}, str(out / "latent_motion.safetensors"))
    (out / "report.json").write_text(json.dumps(report, indent=2))


_CACHE: dict[str, tuple[LatentStateNet, MotionNet]] = {}


def load_latent_probes(directory: str | Path = LATENT_WEIGHTS_DIR) -> tuple[LatentStateNet, MotionNet]:
    """Load (state net, motion net) in eval mode, cached per folder."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    key = str(directory)
    if key not in _CACHE:
        path = Path(directory) / "latent_state.safetensors"
        if not path.exists():
            raise FileNotFoundError(f"latent probe weights missing: {path} (run `livetalk eval train-latent-probes`)")
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        net = LatentStateNet(z_dim=int(meta.get("z_dim", 16)), latent_hw=int(meta.get("latent_hw", 8)))
        net.load_state_dict(load_file(str(path)))
        motion = MotionNet()
        motion.load_state_dict(load_file(str(Path(directory) / "latent_motion.safetensors")))
        _CACHE[key] = (net.eval(), motion.eval())
    return _CACHE[key]


# --------------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_readouts(pred: np.ndarray, states: np.ndarray, labels: np.ndarray, motion: MotionNet,
                      max_lag: int = 8) -> dict:
    """Score read-out states [N, T, 7] against ground-truth states [N, T', 7] and motion labels [N].

    Per clip: lip sync of predicted vs true mouth openness (`lip_sync`), the motion prediction (mean logits
    over 3 s windows, as `features.motion_logits`), and the control: the read-out against the *next* clip's
    mouth track (a model that ignores the audio scores this)."""
    mouth = STATE_KEYS.index("mouth_open")
    clips, n = [], len(pred)
    t = min(pred.shape[1], states.shape[1])
    for i in range(n):
        g, r = np.clip(pred[i, :t, mouth], 0, 1), states[i, :t, mouth]
        m = lip_sync(g, r, max_lag)
        m["sync_corr_mismatched"] = lagged_corr(g, states[(i + 1) % n, :t, mouth], 0) if n > 1 else 0.0
        logits = windowed_motion_logits(motion, pred[i])
        m["motion_pred"], m["motion_target"] = MOTIONS[int(logits.argmax())], MOTIONS[int(labels[i])]
        m["motion_correct"] = float(m["motion_pred"] == m["motion_target"])
        clips.append(m)
    mean = lambda k: float(np.mean([c[k] for c in clips]))  # noqa: E731
    summary = {"clips": n, "sync_corr": mean("sync_corr"), "sync_best_corr": mean("sync_best_corr"),
               "sync_offset_abs_mean": float(np.mean([abs(c["sync_offset"]) for c in clips])),
               "sync_corr_mismatched": mean("sync_corr_mismatched"), "text_accuracy": mean("motion_correct"),
               "sync_corr_sem": mean_sem([c["sync_corr"] for c in clips])[1]}
    gain = [c["sync_corr"] - c["sync_corr_mismatched"] for c in clips]  # paired: same read-out, own vs other track
    summary["sync_gain"], summary["sync_gain_sem"] = mean_sem(gain)
    return {"summary": {k: round(v, 4) if isinstance(v, float) else v for k, v in summary.items()}, "clips": clips}


def evaluate_latents(latents: torch.Tensor, ids: list[str], reference: str | Path,
                     weights: str | Path = LATENT_WEIGHTS_DIR, max_lag: int = 8) -> dict:
    """Lip sync and text following of latents [N, F, C, h, w] (windows "clip#start" of the world folder
    `reference`, as in latent files). Returns {'summary', 'clips'} (see `evaluate_readouts`)."""
    net, motion = load_latent_probes(weights)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # bit-stable reductions, as evaluate_dirs
    try:
        pred = read_states(net, latents.float()).numpy()
        states, labels = window_targets(ids, reference, pred.shape[1])
        res = evaluate_readouts(pred, states, labels, motion, max_lag)
    finally:
        torch.set_num_threads(threads)
    res["clips"] = dict(zip(ids, res["clips"]))
    return res
