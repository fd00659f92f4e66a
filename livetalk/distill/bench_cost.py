"""`livetalk bench clip-cost`: seconds and network evaluations per clip, teacher settings against the student.

The issue's "NFE and seconds per clip" columns, measured the way the scored videos are made
(`scripts/tiny_distill.py --only generate`): latent generation only, batched, on the same conditions for every model
(a latent file and variant, with the still-reference latents when the checkpoint was trained on them). The VAE decode
is the same for every model and is not timed here (`livetalk bench stream` times the runtime end to end). Weights
in fp32 (the tiny scale's evaluation dtype).

Both through `sample_latents`, as the scored videos:

* teacher: `sample_teacher`, `steps` Euler steps, CFG with separate text / audio scales (`guided_velocity`, which
  skips the passes that cancel: `teacher_nfe`);
* student: `stream_latents`, the runtime's block loop (4 denoising passes per 3-latent-frame block, plus one
  cache-refresh pass per block, counted apart).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .data import LatentClips
from .sample_eval import sample_latents, student_nfe
from .teacher import teacher_nfe


@dataclass(frozen=True)
class Setting:
    """One row: a student, or a teacher at `steps` Euler steps with full CFG scales `text` / `audio`."""

    role: str
    steps: int = 4
    text: float = 1.0
    audio: float = 1.0

    @classmethod
    def parse_teacher(cls, spec: str) -> Setting:
        """`STEPS:CFG` (both scales) or `STEPS:TEXT:AUDIO`, e.g. `48:3`, `1:1`, `48:1:3`."""
        parts = spec.split(":")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            nums = []
        if len(nums) not in (2, 3) or nums[0] < 1 or nums[0] != int(nums[0]):
            raise ValueError(f"teacher setting {spec!r}: expected STEPS:CFG or STEPS:TEXT:AUDIO, e.g. 48:3 or 48:1:3")
        return cls("teacher", int(nums[0]), nums[1], nums[-1])

    def label(self) -> str:
        if self.role == "student":
            return "student (4 steps per block)"
        cfg = f"CFG {self.text:g}" if self.text == self.audio else f"text CFG {self.text:g}, audio CFG {self.audio:g}"
        return f"teacher, {self.steps} step{'' if self.steps == 1 else 's'}, {cfg}"


def passes_per_clip(setting: Setting, latent_frames: int, block: int = 3) -> dict:
    """Network evaluations per clip of `latent_frames` latent frames: `nfe` counts denoising passes (the paper's
    NFE); a student also runs one cache-refresh pass per block (`refresh`)."""
    if setting.role == "teacher":
        return {"nfe": teacher_nfe(setting.steps, setting.text, setting.audio), "refresh": 0}
    return {"nfe": student_nfe(latent_frames, block=block), "refresh": -(-latent_frames // block)}


@torch.no_grad()
def time_setting(model, data: LatentClips, setting: Setting, *, clips: int, batch: int, device: str = "cpu",
                 seed: int = 1000, warmup: bool = True) -> dict:
    """Seconds per clip (wall clock over `clips` clips in batches of `batch`, after one untimed warm-up batch) and
    network evaluations per clip of one setting on the first `clips` clips of `data`."""
    n = min(clips, len(data))
    if n < 1:
        raise ValueError("no clips to time")

    def run(i: int, j: int) -> torch.Tensor:  # exactly what `tiny_distill.py --only generate` samples
        return sample_latents(model, data.batch(list(range(i, j))).to(device), setting.role, seed + i,
                              teacher_steps=setting.steps, cfg_scale=setting.text, audio_cfg_scale=setting.audio)

    def sync() -> None:
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()

    if warmup:
        run(0, min(batch, n))
        sync()
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        run(i, min(i + batch, n))
    sync()
    secs = (time.perf_counter() - t0) / n
    return {"setting": setting.label(), "role": setting.role, "steps": setting.steps, "text_cfg": setting.text,
            "audio_cfg": setting.audio, **passes_per_clip(setting, data.latents.shape[1]),
            "seconds_per_clip": round(secs, 4), "clips": n, "batch": batch,
            "latent_frames": int(data.latents.shape[1])}
