"""Train the three probes on freshly rendered world data and report held-out accuracy.

Held-out data always uses identity seeds and clip seeds disjoint from training. Budgets are in steps so
runs are repeatable; on 2 CPU cores the default run takes a few minutes in total.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.clip import ClipConfig, make_clip, plan_clip
from ..data.identity import TRAIT_CLASSES, sample_identity
from ..data.render import render_frames
from ..data.motion import MOTIONS
from .probe_data import degrade, render_batch
from .probes import STATE_KEYS, WEIGHTS_DIR, FaceStateNet, IdentityNet, MotionNet, prepare_frames, save_probe

TRAIN_SEED0, VAL_SEED0 = 100_000, 900_000
# loss weights per STATE_KEYS entry: small expression cues (smile, brow, blink) need more pull
_STATE_W = torch.tensor([1.0, 1.0, 1.0, 1.0, 3.0, 3.0, 3.0])


@dataclass
class TrainConfig:
    """Probe training budget. Frame probes: n_train_ids × per_id frames; motion: n_motion_clips plans."""

    n_train_ids: int = 2400
    n_val_ids: int = 300
    per_id: int = 4
    frame_steps: int = 1200
    id_steps: int = 1000
    batch: int = 96
    lr: float = 2e-3
    n_motion_clips: int = 720
    n_motion_render: int = 360
    motion_clip_s: float = 3.0
    motion_steps: int = 1500
    n_motion_val: int = 90
    threads: int = 1
    out_dir: str = str(WEIGHTS_DIR)


def _frame_data(cfg: TrainConfig):
    rng = np.random.default_rng(1)
    tr = render_batch(np.arange(TRAIN_SEED0, TRAIN_SEED0 + cfg.n_train_ids), cfg.per_id, rng)
    va = render_batch(np.arange(VAL_SEED0, VAL_SEED0 + cfg.n_val_ids), cfg.per_id, rng)
    return tr, va


def _labels(seed0: int, n: int) -> torch.Tensor:
    return torch.tensor([list(sample_identity(seed0 + i).labels().values()) for i in range(n)])


def train_loop(model, loss_fn, n_items: int, steps: int, batch: int, lr: float, gen: torch.Generator) -> None:
    """AdamW + one-cycle schedule; each step draws `batch` item indices [batch] from `gen` for `loss_fn`."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, n_items, (batch,), generator=gen)
        loss = loss_fn(idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()


@torch.no_grad()
def _batched(fn, x: torch.Tensor, bs: int = 512):
    return torch.cat([fn(x[i:i + bs]) for i in range(0, len(x), bs)])


def train_frame_probes(cfg: TrainConfig, gen: torch.Generator) -> tuple[FaceStateNet, IdentityNet, dict]:
    (ftr, str_, otr), (fva, sva, ova) = _frame_data(cfg)
    xtr, xva = prepare_frames(ftr, 64), prepare_frames(fva, 64)
    itr, iva = F.avg_pool2d(xtr, 2), F.avg_pool2d(xva, 2)  # identity probe input (32×32)
    ytr, yva = torch.from_numpy(str_), torch.from_numpy(sva)
    ltr = _labels(TRAIN_SEED0, cfg.n_train_ids)[torch.from_numpy(otr)]
    lva = _labels(VAL_SEED0, cfg.n_val_ids)[torch.from_numpy(ova)]
    report: dict = {}

    state = FaceStateNet()
    t0 = time.perf_counter()
    train_loop(state, lambda i: (((state(degrade(xtr[i], gen)) - ytr[i]) / state.scale) ** 2 * _STATE_W).mean(),
          len(xtr), cfg.frame_steps, cfg.batch, cfg.lr, gen)
    pred = _batched(state, xva)
    report["face_state"] = {
        "train_s": round(time.perf_counter() - t0, 1),
        "val_frames": len(xva),
        "mae": {k: round(float((pred[:, j] - yva[:, j]).abs().mean()), 4) for j, k in enumerate(STATE_KEYS)},
        "corr": {k: round(float(np.corrcoef(pred[:, j], yva[:, j])[0, 1]), 4) for j, k in enumerate(STATE_KEYS)},
    }

    ident = IdentityNet()
    names = list(TRAIT_CLASSES)
    t0 = time.perf_counter()

    def id_loss(i):
        out = ident.traits(degrade(itr[i], gen))
        return sum(F.cross_entropy(out[k], ltr[i, j]) for j, k in enumerate(names)) / len(names)

    train_loop(ident, id_loss, len(xtr), cfg.id_steps, cfg.batch, cfg.lr, gen)
    with torch.no_grad():
        logits = {k: _batched(lambda x, k=k: ident.traits(x)[k], iva) for k in names}
        emb = _batched(ident, iva)
    acc = {k: round(float((logits[k].argmax(-1) == lva[:, j]).float().mean()), 4) for j, k in enumerate(names)}
    same = torch.from_numpy(ova)[:, None] == torch.from_numpy(ova)[None, :]
    sim = emb @ emb.T
    off = ~torch.eye(len(emb), dtype=torch.bool)
    report["identity"] = {
        "train_s": round(time.perf_counter() - t0, 1),
        "val_identities": cfg.n_val_ids,
        "trait_accuracy": acc,
        "mean_trait_accuracy": round(float(np.mean(list(acc.values()))), 4),
        "cos_same_identity": round(float(sim[same & off].mean()), 4),
        "cos_other_identity": round(float(sim[~same].mean()), 4),
        "verification_auc": round(_auc(sim[same & off].numpy(), sim[~same].numpy()), 4),
    }
    return state, ident, report


def _auc(pos: np.ndarray, neg: np.ndarray, max_n: int = 20000) -> float:
    rng = np.random.default_rng(0)
    pos = rng.choice(pos, min(len(pos), max_n), replace=False)
    neg = rng.choice(neg, min(len(neg), max_n), replace=False)
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg])))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) - 1) / 2) / (len(pos) * len(neg)))


def _plan_states(seed: int, motion: str, seconds: float) -> np.ndarray:
    p = plan_clip(seed, ClipConfig(duration_s=seconds, motion=motion))
    return np.stack([getattr(p.state, k) for k in STATE_KEYS], axis=1)


def train_motion_probe(cfg: TrainConfig, state_net: FaceStateNet, noise: np.ndarray, gen: torch.Generator):
    """Train on face-state sequences: ground truth plus noise matching the state probe's error, and (for
    the first n_motion_render clips) the state probe's read-out of the rendered clip, the path evaluation
    uses. Validate on rendered held-out clips read through the state probe."""
    seqs, labels, read = [], [], []
    for i in range(cfg.n_motion_clips):
        m = i % len(MOTIONS)
        p = plan_clip(TRAIN_SEED0 + i, ClipConfig(duration_s=cfg.motion_clip_s, motion=MOTIONS[m]))
        seqs.append(np.stack([getattr(p.state, k) for k in STATE_KEYS], axis=1))
        labels.append(m)
        if i < cfg.n_motion_render:
            with torch.no_grad():
                read.append(state_net(prepare_frames(render_frames(p.identity, p.state, 64))).numpy())
    x = torch.from_numpy(np.stack(seqs))
    y = torch.tensor(labels)
    xr = torch.from_numpy(np.stack(read)) if read else None
    sigma = torch.from_numpy(noise.astype(np.float32))
    net = MotionNet()
    t0 = time.perf_counter()

    def loss(i):
        xi = x[i] + torch.randn(x[i].shape, generator=gen) * sigma * (0.5 + torch.rand(len(i), 1, 1, generator=gen))
        if xr is not None:  # half of each batch: real probe read-outs where available
            use = (i < len(xr)) & (torch.rand(len(i), generator=gen) < 0.6)
            if use.any():
                xi[use] = xr[i[use]] + torch.randn(xr[i[use]].shape, generator=gen) * sigma * 0.2
        return F.cross_entropy(net(xi), y[i])

    train_loop(net, loss, len(x), cfg.motion_steps, 64, cfg.lr, gen)
    train_s = time.perf_counter() - t0
    correct, confusion = 0, np.zeros((len(MOTIONS), len(MOTIONS)), int)
    for i in range(cfg.n_motion_val):
        m = i % len(MOTIONS)
        clip = make_clip(VAL_SEED0 + i, ClipConfig(duration_s=cfg.motion_clip_s, motion=MOTIONS[m]))
        with torch.no_grad():
            pred = int(net(state_net(prepare_frames(clip.frames))[None]).argmax())
        correct += pred == m
        confusion[m, pred] += 1
    return net, {"train_s": round(train_s, 1), "val_clips": cfg.n_motion_val,
                 "accuracy": round(correct / cfg.n_motion_val, 4), "labels": list(MOTIONS),
                 "confusion": confusion.tolist()}


def train_probes(cfg: TrainConfig = TrainConfig()) -> dict:
    """Train all probes, save safetensors to cfg.out_dir, write report.json there; return the report."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    out = Path(cfg.out_dir)
    state, ident, report = train_frame_probes(cfg, gen)
    noise = np.array([report["face_state"]["mae"][k] * 1.25 for k in STATE_KEYS])  # MAE → ~std of errors
    motion, report["motion"] = train_motion_probe(cfg, state, noise, gen)
    for name, model in (("face_state", state), ("identity", ident), ("motion", motion)):
        save_probe(model, name, out)
    report["config"] = asdict(cfg)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report
