"""scripts/sample_sync.py --pixels: the pixel read-out decodes latents `[N, F, 16, h, w]` to `4(F − 1) + 1` frames
and reads the mouth with the pixel probe; through the shipped mouth-keeping VAE (VMH) it follows the rendered track."""

import importlib.util
from pathlib import Path

import numpy as np
import torch

from livetalk.data.clip import ClipConfig, plan_clip
from livetalk.data.render import render_frames
from livetalk.models.vae import frames_to_video
from livetalk.models.vae_tiny import TINY_VAE_PATH, load_tiny_vae

VMH = TINY_VAE_PATH  # the shipped VAE keeps the mouth since session 38


def _script():
    spec = importlib.util.spec_from_file_location("sample_sync", Path(__file__).parents[2] / "scripts" / "sample_sync.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pixel_reader_follows_the_mouth_through_the_shipped_vae():
    torch.set_num_threads(1)
    reader = _script().PixelMouthReader(str(VMH))
    vae = load_tiny_vae(VMH)
    latents, tracks = [], []
    for seed in (900011, 900012, 900013):
        p = plan_clip(seed, ClipConfig(duration_s=4.0))
        st = p.state.slice(28, 61)
        latents.append(vae.encode(frames_to_video(render_frames(p.identity, st, 64)))[0])
        tracks.append(np.asarray(st.mouth_open, np.float64))
    reads = reader(torch.stack(latents))
    assert reads.shape == (3, 33) and np.all((reads >= 0) & (reads <= 1))
    r, t = reads[:, 1:].ravel(), np.stack(tracks)[:, 1:].ravel()  # frame 0 is the reference frame
    corr = np.corrcoef(r, t)[0, 1]
    assert corr > 0.4, corr  # 0.76 when written
