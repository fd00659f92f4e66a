"""`livetalk train prepare`: a talking-head dataset folder → the latent training file of the distillation.

For every clip, non-overlapping windows of `4F − 3` pixel frames become training clips of F latent frames:
video → tiny VAE latents `[F, 16, h, w]` (latent frame 0 replaced by the reference latent, as the model is
trained and sampled), audio → log-mel features → per-latent windows `[F, 4, 80]`, prompt → MiniLM states.

Conditions, to reproduce the recipe ablation on the same clips:
* raw (plain recipe): a fraction `degrade` of the reference images is degraded (blur / dark / low
  resolution, cycled) and prompts are used as written;
* curated (`--curate`, LiveTalk recipe): the same raw conditions are repaired (`repair_reference`; images
  that cannot be repaired fall back to a clean frame of the clip) and prompts rewritten to their motion
  content (`motion_focused_prompt`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..models.dit import pack_audio_frames
from .curation import degrade_reference, motion_focused_prompt, repair_reference

NEGATIVE_PROMPT = "static frozen face, blurry, distorted, artifacts, flicker, closed mouth, dark, low quality"
_KINDS = ("blur", "dark", "lowres")


def _to_video_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 [T, H, W, 3] → float [1, T, 3, H, W] in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).float().div(127.5).sub(1).permute(0, 3, 1, 2)[None]


def raw_reference(reference: np.ndarray, index: int, degrade: float) -> np.ndarray:
    """The reference image as the raw (uncurated) data has it: every ⌈1/degrade⌉-th clip degraded."""
    if degrade <= 0 or index % max(1, round(1 / degrade)):
        return reference
    return degrade_reference(reference, _KINDS[(index // max(1, round(1 / degrade))) % len(_KINDS)])


@torch.no_grad()
def prepare_latents(
    data_dir: str | Path,
    out_path: str | Path,
    *,
    latent_frames: int = 12,
    curate: bool = False,
    degrade: float = 0.3,
    max_clips: int | None = None,
    vae_path: str | None = None,
    windows_per_clip: int | None = None,
    progress: bool = True,
) -> dict:
    """Write the latent file; returns a summary (clips, curation actions)."""
    from ..data.dataset import TalkingHeadDataset
    from ..models.audio_encoder import build_audio_encoder
    from ..models.text_encoder import build_text_encoder
    from ..models.vae_tiny import load_tiny_vae

    ds = TalkingHeadDataset(data_dir, load_tracks=False)
    vae = load_tiny_vae(vae_path)
    text = build_text_encoder("tiny")
    audio_enc = build_audio_encoder("tiny")
    n_pix = 4 * latent_frames - 3
    lat, ref_lat, aud, ctx, prompts, ids = [], [], [], [], [], []
    actions: dict[str, int] = {}
    n = len(ds) if max_clips is None else min(len(ds), max_clips)
    for i in tqdm(range(n), desc="prepare", disable=not progress):
        s = ds[i]
        ref_img = raw_reference(s.reference, i, degrade)
        prompt = s.prompt
        if curate:
            fixed, acts = repair_reference(ref_img)
            for a in acts:
                actions[a] = actions.get(a, 0) + 1
            ref_img = fixed if fixed is not None else s.reference
            prompt = motion_focused_prompt(prompt)
        r = vae.encode(_to_video_tensor(ref_img[None]))[:, 0]  # [1, 16, h, w]
        starts = list(range(0, len(s.frames) - n_pix + 1, n_pix))[:windows_per_clip]
        for w, p0 in enumerate(starts):
            z = vae.encode(_to_video_tensor(s.frames[p0 : p0 + n_pix]))  # [1, F, 16, h, w]
            z[:, 0] = r
            wave = s.audio[p0 * 1000 : (p0 + n_pix) * 1000]
            feats = audio_enc.encode(wave, num_frames=n_pix)[None]  # [1, T, 80]
            lat.append(z[0])
            ref_lat.append(r[0])
            aud.append(pack_audio_frames(feats)[0])
            ctx.append(text.encode(prompt)[0])
            prompts.append(prompt)
            ids.append(f"{s.id}#{w}")
    if not lat:
        raise ValueError(f"no clip in {data_dir} is long enough for {latent_frames} latent frames ({n_pix} frames)")
    tensors = {
        "latents": torch.stack(lat), "ref": torch.stack(ref_lat), "audio": torch.stack(aud),
        "context": torch.stack(ctx), "neg_context": text.encode(NEGATIVE_PROMPT)[0],
        "prompts": prompts, "ids": ids, "curated": curate, "degrade": degrade,
    }
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tensors, out_path.with_suffix(".tmp"))
    out_path.with_suffix(".tmp").replace(out_path)
    return {"clips": len(lat), "source_clips": n, "curation": actions, "path": str(out_path)}
