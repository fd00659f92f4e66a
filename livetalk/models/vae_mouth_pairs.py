"""Paired training windows for a VAE that keeps the mouth: each window of a synthetic world clip rendered twice,
as spoken and with the mouth held closed (everything else identical), so `spoken − closed` is the mouth's own part
of the pixels (`FaceState.mouth_closed`, the same pair `scripts/mouth_delta.py` encodes).

The loss it serves (`mouth_delta_loss`) asks the VAE to reproduce that difference: through the shipped T49-L VAE
only about 9 % of it survives encode → decode of a clip and its time course is lost (correlation 0.2 with the
truth's), while a frame coded on its own keeps its time course (0.88), so it is the temporal coding that drops the
mouth (`docs/vae.md`, "A VAE that keeps the mouth").
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch

from livetalk.data.clip import ClipConfig, ClipPlan, plan_clip
from livetalk.data.render import render_frames


PLANS_FILE = "plans.pkl"  # optional, beside manifest.jsonl: the clips' plans, so rendering needs no espeak-ng


class WorldPairSource:
    """Windows of the clips of a `livetalk data synth` folder, re-planned from their seeds and rendered on demand
    (about 1 ms per 64×64 frame). `sample` → spoken windows only (a drop-in data source); `sample_pairs` → (spoken,
    closed), each `[batch, frames, 3, size, size]` float32 in [-1, 1]."""

    def __init__(self, folder: str | Path, size: int = 64, max_clips: int | None = None) -> None:
        manifest = Path(folder) / "manifest.jsonl"
        if not manifest.exists():
            raise FileNotFoundError(f"{manifest} not found: mouth pairs need a world folder written by `livetalk data synth`")
        self.folder = Path(folder)
        self.records = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
        if max_clips:
            self.records = self.records[:max_clips]
        if not self.records:
            raise ValueError(f"{manifest} lists no clips")
        missing = [r.get("id") for r in self.records if "identity_seed" not in r or "duration_s" not in r]
        if missing:
            raise KeyError(f"{manifest}: records without identity_seed/duration_s (not a synthetic world?): {missing[:3]}")
        self.size = size
        self._plans: dict[int, ClipPlan] = {}
        if (self.folder / PLANS_FILE).exists():
            self._load_plans(self.folder / PLANS_FILE)

    def save_plans(self, path: str | Path | None = None) -> Path:
        """Plan every clip (needs espeak-ng: the speech timeline drives the mouth) and pickle the parts rendering
        needs, identity and face state (~6 KB a clip), to `folder/plans.pkl` (or `path`); a source opened on the
        folder then renders without espeak-ng, e.g. on a GPU machine that lacks it. Trusted local data only
        (pickle)."""
        path = Path(path) if path else self.folder / PLANS_FILE
        rows = [(int(r["identity_seed"]), float(r["duration_s"]), self.plan(i).identity, self.plan(i).state)
                for i, r in enumerate(self.records)]
        with open(path, "wb") as f:
            pickle.dump({"size": self.size, "rows": rows}, f)
        return path

    def _load_plans(self, path: Path) -> None:
        with open(path, "rb") as f:
            saved = pickle.load(f)
        by_seed = {(seed, dur): (idt, st) for seed, dur, idt, st in saved["rows"]}
        if saved["size"] != self.size:
            raise ValueError(f"{path} holds plans for size {saved['size']}, not {self.size}: delete it or re-save")
        for i, r in enumerate(self.records):
            key = (int(r["identity_seed"]), float(r["duration_s"]))
            if key not in by_seed:
                raise ValueError(f"{path} has no plan for clip {r.get('id')} (seed {key[0]}, {key[1]} s): re-save it")
            idt, st = by_seed[key]
            self._plans[i] = ClipPlan(identity=idt, motion=None, prompt=None, audio=None, state=st, viseme=None,
                                      speaking=None, text=None, energy_driven=None)  # rendering reads these two only

    def plan(self, i: int) -> ClipPlan:
        if i not in self._plans:
            r = self.records[i]
            self._plans[i] = plan_clip(int(r["identity_seed"]), ClipConfig(duration_s=float(r["duration_s"]), size=self.size))
        return self._plans[i]

    def window_pair(self, i: int, start: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel frames `start … start + frames − 1` of clip `i`, spoken and mouth-closed: two uint8
        `[frames, size, size, 3]`."""
        p = self.plan(i)
        st = p.state.slice(start, start + frames)
        return render_frames(p.identity, st, self.size), render_frames(p.identity, st.mouth_closed(), self.size)

    def sample_pairs(self, batch: int, frames: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        spoken, closed = [], []
        for _ in range(batch):
            i = int(torch.randint(len(self.records), (1,), generator=generator))
            n = len(self.plan(i).state.mouth_open)
            if n < frames:
                raise ValueError(f"clip has {n} frames, fewer than the {frames} asked for")
            s, c = self.window_pair(i, int(torch.randint(n - frames + 1, (1,), generator=generator)), frames)
            spoken.append(s)
            closed.append(c)
        return _to_video(np.stack(spoken)), _to_video(np.stack(closed))

    def sample(self, batch: int, frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.sample_pairs(batch, frames, generator)[0]


def _render_pair(args) -> tuple[np.ndarray, np.ndarray]:
    """One whole clip (identity, face state, size) rendered spoken and mouth-closed: two uint8 `[T, size, size, 3]`."""
    identity, state, size = args
    return render_frames(identity, state, size), render_frames(identity, state.mouth_closed(), size)


class WorldPairBank(WorldPairSource):
    """`WorldPairSource` with every clip rendered once, up front, into memory (uint8, spoken and closed), by
    `workers` processes: on a GPU the on-demand rendering (~1 ms per frame on one core) would starve training.
    `window_pair` slices the stored clips, so `sample_pairs` draws exactly the windows of `WorldPairSource` with the
    same generator, as the same bytes (rendering is per frame). Memory: 2 · frames · size² · 3 bytes per clip (160 clips of
    8 s at 16 fps, 64²: 0.5 GB)."""

    def __init__(self, folder: str | Path, size: int = 64, max_clips: int | None = None, workers: int = 1) -> None:
        super().__init__(folder, size, max_clips)
        jobs = [(self.plan(i).identity, self.plan(i).state, size) for i in range(len(self.records))]  # plans: here
        if workers > 1:
            import multiprocessing as mp

            with mp.get_context("fork").Pool(workers) as pool:  # rendering is numpy only: fork is safe and quick
                self.clips = pool.map(_render_pair, jobs, chunksize=1)
        else:
            self.clips = [_render_pair(j) for j in jobs]

    def window_pair(self, i: int, start: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
        spoken, closed = self.clips[i]
        return spoken[start : start + frames], closed[start : start + frames]


def _to_video(frames: np.ndarray) -> torch.Tensor:
    """uint8 `[B, T, H, W, 3]` → float32 `[B, T, 3, H, W]` in [-1, 1]."""
    return torch.from_numpy(frames).permute(0, 1, 4, 2, 3).float() / 127.5 - 1


def mouth_delta_loss(y_spoken: torch.Tensor, y_closed: torch.Tensor, x_spoken: torch.Tensor, x_closed: torch.Tensor,
                     eps: float = 1e-6) -> torch.Tensor:
    """Relative error of the reconstructed mouth: ‖(ŷ_s − ŷ_c) − (x_s − x_c)‖² / ‖x_s − x_c‖² over the batch (all
    `[B, T, 3, H, W]`). 1 when the reconstruction drops the mouth entirely, 0 when it keeps it exactly."""
    d = x_spoken - x_closed
    return ((y_spoken - y_closed) - d).pow(2).sum() / (d.pow(2).sum() + eps)


@torch.no_grad()
def mouth_kept(vae, spoken: torch.Tensor, closed: torch.Tensor, box: torch.Tensor | None = None) -> dict:
    """How much of the mouth a VAE keeps through encode → decode of whole windows `[B, T, 3, H, W]`:
    gain = ⟨R, D⟩ / ⟨D, D⟩ (1 = full amplitude), corr(R, D), and the correlation over frames of the per-frame mouth
    energy |R| against |D| (its time course), with D = spoken − closed and R the same of the reconstructions;
    inside `box` `[H, W]` (bool) if given. Per-window values averaged."""
    gains, corrs, courses = [], [], []
    for i in range(spoken.shape[0]):
        ys = vae.decode(vae.encode(spoken[i : i + 1].to(vae.device))).cpu().double()
        yc = vae.decode(vae.encode(closed[i : i + 1].to(vae.device))).cpu().double()
        d = (spoken[i : i + 1] - closed[i : i + 1]).double()[0]  # [T, 3, H, W]
        r = (ys - yc)[0]
        if box is not None:
            d, r = d[..., box], r[..., box]
        d2 = d.reshape(d.shape[0], -1)
        r2 = r.reshape(r.shape[0], -1)
        if d2.pow(2).sum() == 0:
            continue
        gains.append(float((r2 * d2).sum() / d2.pow(2).sum()))
        corrs.append(float(torch.corrcoef(torch.stack([r2.flatten(), d2.flatten()]))[0, 1]))
        ed, er = d2.abs().mean(1), r2.abs().mean(1)
        if ed.std() > 0 and er.std() > 0:
            courses.append(float(torch.corrcoef(torch.stack([er, ed]))[0, 1]))
    return {"windows": len(gains), "gain": float(np.mean(gains)), "corr": float(np.mean(corrs)),
            "time_course_corr": float(np.mean(courses)) if courses else float("nan")}
