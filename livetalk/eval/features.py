"""Probe read-outs on videos (uint8 [T, H, W, 3]); all CPU fp32, batched, deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .probes import STATE_KEYS, WEIGHTS_DIR, load_probe, prepare_frames

MOTION_WINDOW = 48  # frames (3 s) per motion-classifier window, as in training


def _run(model, x: torch.Tensor, bs: int = 256) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([model(x[i:i + bs]) for i in range(0, len(x), bs)]).numpy().astype(np.float64)


def face_states(frames: np.ndarray, weights: Path = WEIGHTS_DIR) -> np.ndarray:
    """Per-frame face state float64 [T, 7] (columns STATE_KEYS; column 0 is mouth openness in [0,1])."""
    net = load_probe("face_state", weights)
    return _run(net, prepare_frames(frames, net.input_size))


def mouth_openness(frames: np.ndarray, weights: Path = WEIGHTS_DIR) -> np.ndarray:
    """Predicted mouth openness float64 [T], clipped to [0, 1]."""
    return np.clip(face_states(frames, weights)[:, STATE_KEYS.index("mouth_open")], 0, 1)


def identity_embeddings(frames: np.ndarray, weights: Path = WEIGHTS_DIR) -> np.ndarray:
    """Unit-norm identity embeddings float64 [T, 128]."""
    net = load_probe("identity", weights)
    return _run(net, prepare_frames(frames, net.input_size))


def identity_features(frames: np.ndarray, weights: Path = WEIGHTS_DIR) -> np.ndarray:
    """Un-normalised identity features float64 [T, 128] (the frame Fréchet feature space)."""
    net = load_probe("identity", weights)
    return _run(net.features, prepare_frames(frames, net.input_size))


def normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation [N, D] (as IdentityNet.forward does to its features)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def windows(n: int, size: int = MOTION_WINDOW) -> list[slice]:
    """Non-overlapping windows of `size` frames covering n (the last one may be shorter, min 16 frames)."""
    if n <= size:
        return [slice(0, n)]
    out = [slice(a, a + size) for a in range(0, n - size + 1, size)]
    if n - out[-1].stop >= 16:
        out.append(slice(out[-1].stop, n))
    return out


def motion_logits(states: np.ndarray, weights: Path = WEIGHTS_DIR) -> np.ndarray:
    """Face-state sequence [T, 7] → motion logits float64 [len(MOTIONS)] (mean over 3 s windows)."""
    return windowed_motion_logits(load_probe("motion", weights), states)


def windowed_motion_logits(net, states: np.ndarray) -> np.ndarray:
    """`net` (a MotionNet) over the 3 s windows of a face-state sequence [T, 7]; mean logits float64 [len(MOTIONS)]."""
    s = torch.from_numpy(np.asarray(states, np.float32))
    with torch.no_grad():
        logits = [net(s[w][None])[0].numpy() for w in windows(len(s))]
    return np.mean(logits, axis=0).astype(np.float64)


def clip_features(states: np.ndarray, id_feats: np.ndarray, weights: Path = WEIGHTS_DIR) -> np.ndarray:
    """Per-window clip features float64 [W, 256]: motion embedding (128) ‖ mean identity feature (128).
    This is the clip-level Fréchet (FVD-analogue) feature space."""
    net = load_probe("motion", weights)
    s = torch.from_numpy(np.asarray(states, np.float32))
    out = []
    with torch.no_grad():
        for w in windows(len(s)):
            out.append(np.concatenate([net.embed(s[w][None])[0].numpy(), id_feats[w].mean(0)]))
    return np.stack(out).astype(np.float64)
