"""Generate evaluation videos from a teacher or a student for every clip of a dataset folder.

Output: `OUT/<clip id>.mp4` (video + the clip's audio) and `OUT/timing.json` (network evaluations and seconds
per clip), ready for `livetalk eval --generated OUT --reference DATA`.

* student (causal, 4 steps): the streaming runtime itself (`AvatarSession`: KV cache with sinks, streaming
  audio features), decoded with the tiny VAE decoder;
* teacher (bidirectional): `sample_teacher` over the whole clip (many Euler steps with CFG), same decoder.
Both see the clean reference image, the clip's audio and its prompt (motion-focused when `curated_prompts`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..models.checkpoint import load_dit
from ..models.dit import pack_audio_frames
from ..models.vae import frames_to_video, video_to_frames
from .batch import TrainBatch
from .curation import motion_focused_prompt
from .prepare import NEGATIVE_PROMPT
from .teacher import sample_teacher, teacher_nfe


def _write(out_dir: Path, clip_id: str, frames: np.ndarray, audio: np.ndarray) -> None:
    from ..data.media import write_video

    write_video(out_dir / f"{clip_id}.mp4", frames, fps=16, audio=audio[: len(frames) * 1000])


@torch.no_grad()
def generate_clips(
    checkpoint: str | Path,
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    role: str = "student",
    num_frames: int = 33,
    max_clips: int | None = None,
    curated_prompts: bool = False,
    teacher_steps: int = 32,
    text_scale: float = 3.0,
    audio_scale: float = 3.0,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    from ..data.dataset import TalkingHeadDataset
    from ..models.audio_encoder import build_audio_encoder
    from ..models.text_encoder import build_text_encoder
    from ..models.vae_tiny import load_tiny_vae
    from ..runtime.avatar import AvatarModels, AvatarSession, RuntimeConfig

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = TalkingHeadDataset(data_dir, load_tracks=False)
    dit = load_dit(checkpoint, preset="tiny")
    vae = load_tiny_vae()
    text = build_text_encoder("tiny")
    audio_enc = build_audio_encoder("tiny")
    n = len(ds) if max_clips is None else min(len(ds), max_clips)
    if (num_frames - 1) % 4:
        raise ValueError("num_frames must be 4·F − 3 (e.g. 33)")
    lat_frames = (num_frames + 3) // 4
    times, nfe = [], 0
    models = AvatarModels(dit, vae, vae.stream_decoder, text, audio_enc)
    for i in tqdm(range(n), desc=f"generate {role}", disable=not progress):
        s = ds[i]
        prompt = motion_focused_prompt(s.prompt) if curated_prompts else s.prompt
        audio = s.audio[: num_frames * 1000]
        t0 = time.perf_counter()
        if role == "student":
            session = AvatarSession(models, s.reference, prompt, RuntimeConfig(seed=seed + i))
            session.push_audio(audio)
            chunks = []
            while sum(len(c) for c in chunks) < num_frames:
                chunks.append(session.next_chunk().frames)
            frames = np.concatenate(chunks)[:num_frames]
            nfe = student_nfe(lat_frames)  # denoising evaluations per clip (+ the cache-refresh pass per block)
        elif role == "teacher":
            ref = vae.encode(frames_to_video(s.reference[None]))[:, 0]
            feats = audio_enc.encode(audio, num_frames=num_frames)[None]
            batch = TrainBatch(
                latents=torch.zeros(1, lat_frames, 16, *ref.shape[-2:]), ref=ref,
                context=text.encode(prompt), neg_context=text.encode(NEGATIVE_PROMPT),
                audio=pack_audio_frames(feats),
            )
            g = torch.Generator().manual_seed(seed + i)
            x0, _ = sample_teacher(dit, batch, steps=teacher_steps, text_scale=text_scale, audio_scale=audio_scale,
                                   generator=g)
            frames = video_to_frames(vae.decode(x0)[0])
            nfe = teacher_nfe(teacher_steps, text_scale, audio_scale)
        else:
            raise ValueError(f"role must be student or teacher, got {role!r}")
        times.append(time.perf_counter() - t0)
        _write(out_dir, s.id, frames, audio)
    timing = {"role": role, "checkpoint": str(checkpoint), "clips": n, "frames_per_clip": num_frames,
              "nfe_per_clip": nfe, "seconds_per_clip": float(np.mean(times)) if times else 0.0}
    (out_dir / "timing.json").write_text(json.dumps(timing, indent=2))
    return timing


def student_nfe(latent_frames: int, steps: int = 4, block: int = 3) -> int:
    """Denoising network evaluations of `stream_latents` / `AvatarSession` for `latent_frames` latent frames: `steps`
    per block of `block` latent frames (a part block is a block); the cache-refresh pass per block is not counted."""
    return steps * -(-latent_frames // block)


@torch.no_grad()
def stream_latents(student, batch: TrainBatch, *, steps: int = 4, block: int = 3, sink_size: int = 9,
                   local_attn_size: int = 15, rope_max_frames: int | None = None, seed: int = 0,
                   context_noise: float = 0.0) -> torch.Tensor:
    """The runtime's block loop at latent level (same `denoise_block` / `refresh_cache` as `AvatarSession`),
    with precomputed conditions; returns clean latents `[B, F, 16, h, w]`. The cache holds `sink_size` sink
    frames within `local_attn_size` latent frames (the published 9 / 15; -1 = full history) and re-bases positions
    past `rope_max_frames` (default the model's table, i.e. never in a short stream). `context_noise` (a timestep,
    0 as published) re-noises each block for its cache pass, with noise from its own generator (seed + 1) so the
    denoising noise is the same for every setting."""
    from ..diffusion.block_sampler import BlockConditions, denoise_block, refresh_cache
    from ..diffusion.schedule import FlowMatchSchedule

    b, f, c, h, w = batch.latents.shape
    dev, dtype = batch.latents.device, student.dtype
    sched = FlowMatchSchedule(steps, 5.0)
    cache = student.new_cache(b, (h, w), sink_size=sink_size, local_attn_size=local_attn_size,
                              rope_max_frames=rope_max_frames)
    g = torch.Generator(device=dev).manual_seed(seed)
    g_ctx = torch.Generator(device=dev).manual_seed(seed + 1)
    out = []
    for s in range(0, f, block):
        cond, audio = batch.blocks(s, s + block)
        conds = BlockConditions(batch.context, cond, audio)
        noise = torch.randn(b, min(block, f - s), c, h, w, generator=g, device=dev).to(dtype)
        x0 = denoise_block(student, cache, noise, s, conds, sched, ref_latent=batch.ref, generator=g)
        refresh_cache(student, cache, x0, s, conds, context_noise=context_noise, ref_latent=batch.ref,
                      generator=g_ctx)
        out.append(x0)
    return torch.cat(out, 1)


@torch.no_grad()
def sample_latents(model, batch: TrainBatch, role: str, seed: int, *, teacher_steps: int = 48,
                   cfg_scale: float = 3.0, context_noise: float = 0.0, cache: dict | None = None,
                   audio_cfg_scale: float | None = None) -> torch.Tensor:
    """Clean latents `[B, F, 16, h, w]` of one batch: a teacher by `sample_teacher` (`teacher_steps` Euler steps,
    CFG `cfg_scale` on text and `audio_cfg_scale` on audio, the same as text when None; noise from `seed`), a
    student by `stream_latents` (the runtime's block loop, `context_noise` for its cache passes, `cache` its
    `stream_latents` cache sizes; default the published 9 / 15)."""
    if role == "teacher":
        audio = cfg_scale if audio_cfg_scale is None else audio_cfg_scale
        x0, _ = sample_teacher(model, batch, steps=teacher_steps, text_scale=cfg_scale, audio_scale=audio,
                               generator=torch.Generator().manual_seed(seed))
        return x0
    if role != "student":
        raise ValueError(f"role must be 'teacher' or 'student', got {role!r}")
    return stream_latents(model, batch, seed=seed, context_noise=context_noise, **(cache or {}))
