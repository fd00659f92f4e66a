"""`livetalk train prepare`: a talking-head dataset folder → the latent training file of the distillation.

For every clip, non-overlapping windows of `4F − 3` pixel frames become training clips of F latent frames:
video → tiny VAE latents `[F, 16, h, w]` (latent frame 0 replaced by the reference latent, as the model is
trained and sampled), audio → log-mel features → per-latent windows `[F, 4, 80]`, prompt → MiniLM states.

Conditions, to reproduce the recipe ablation on the same clips:
* raw (plain recipe): a fraction `degrade` of the reference images is degraded (blur / dark / low
  resolution, cycled) and prompts are used as written;
* curated (LiveTalk recipe): the same raw conditions are repaired (`repair_reference`; images
  that cannot be repaired fall back to a clean frame of the clip) and prompts rewritten to their motion
  content (`motion_focused_prompt`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..models.dit import pack_audio_frames
from ..models.vae import frames_to_video
from .curation import degrade_reference, motion_focused_prompt, repair_reference

NEGATIVE_PROMPT = "static frozen face, blurry, distorted, artifacts, flicker, closed mouth, dark, low quality"
_KINDS = ("blur", "dark", "lowres")


def raw_reference(reference: np.ndarray, index: int, degrade: float) -> np.ndarray:
    """The reference image as the raw (uncurated) data has it: every ⌈1/degrade⌉-th clip degraded."""
    if degrade <= 0 or index % max(1, round(1 / degrade)):
        return reference
    return degrade_reference(reference, _KINDS[(index // max(1, round(1 / degrade))) % len(_KINDS)])


VARIANTS = ("clean", "raw", "curated")


def pack_latent_file(latents: list[torch.Tensor], audio: torch.Tensor | list[torch.Tensor], ids: list[str],
                     refs: dict[str, list[torch.Tensor]], prompts: dict[str, list[str]], text_states,
                     degrade: float) -> dict:
    """The latent file layout shared by `prepare_latents` and scripts/prep_split.py.

    Per window: latents `[F, 16, h, w]`, audio windows `[F, 4, D]`, id; per variant and window: reference latent
    `[16, h, w]` and prompt. `text_states(list of prompts) -> [P, L, D_text]` encodes each distinct prompt once.
    """
    out = {"latents": torch.stack(latents).half(),
           "audio": (audio if isinstance(audio, torch.Tensor) else torch.stack(audio)).half(), "ids": ids,
           "neg_context": text_states([NEGATIVE_PROMPT])[0].half(), "degrade": degrade, "variants": {}}
    for v, window_prompts in prompts.items():
        distinct = list(dict.fromkeys(window_prompts))
        index = {p: k for k, p in enumerate(distinct)}
        out["variants"][v] = {
            "ref": torch.stack(refs[v]).half(), "prompt_index": torch.tensor([index[p] for p in window_prompts]),
            "context_table": text_states(distinct).half(), "prompts": distinct,
        }
    return out


def merge_latent_files(parts: list[dict]) -> dict:
    """Several files of the `pack_latent_file` layout → one, packed by it again (windows concatenated in order,
    each distinct prompt's encoded text state reused). Window ids must be unique and the negative prompt, the
    degradation and the variants the same in every part."""
    if not parts:
        raise ValueError("nothing to merge")
    first = parts[0]
    for k, d in enumerate(parts[1:], 1):
        if sorted(d["variants"]) != sorted(first["variants"]):
            raise ValueError(f"part {k} has variants {sorted(d['variants'])}, part 0 {sorted(first['variants'])}")
        if d["degrade"] != first["degrade"]:
            raise ValueError(f"part {k} was degraded with {d['degrade']}, part 0 with {first['degrade']}")
        if not torch.equal(d["neg_context"], first["neg_context"]):
            raise ValueError(f"part {k} encodes the negative prompt differently (another text encoder?)")
        for key in ("latents", "audio"):
            if d[key].shape[1:] != first[key].shape[1:]:
                raise ValueError(f"part {k} has {key} windows {tuple(d[key].shape[1:])}, part 0 "
                                 f"{tuple(first[key].shape[1:])}")
    ids = [i for d in parts for i in d["ids"]]
    if len(set(ids)) != len(ids):
        raise ValueError("window ids repeat across the parts (the same clips twice?)")
    variants = list(first["variants"])
    rows = {NEGATIVE_PROMPT: first["neg_context"]}  # text states already encoded, by prompt
    prompts: dict[str, list[str]] = {v: [] for v in variants}
    for d in parts:
        for v in variants:
            part = d["variants"][v]
            for p, row in zip(part["prompts"], part["context_table"]):
                rows.setdefault(p, row)
            prompts[v] += [part["prompts"][i] for i in part["prompt_index"].tolist()]
    refs = {v: [r for d in parts for r in d["variants"][v]["ref"]] for v in variants}
    return pack_latent_file([z for d in parts for z in d["latents"]], torch.cat([d["audio"] for d in parts]), ids,
                            refs, prompts, lambda ps: torch.stack([rows[p] for p in ps]), first["degrade"])


def _variant_conditions(reference: np.ndarray, prompt: str, index: int, variant: str, degrade: float,
                        actions: dict[str, int]) -> tuple[np.ndarray, str]:
    """Reference image and prompt of a clip as the variant sees them (see the module docstring)."""
    if variant == "clean":
        return reference, prompt
    raw = raw_reference(reference, index, degrade)
    if variant == "raw":
        return raw, prompt
    fixed, acts = repair_reference(raw)
    for a in acts:
        actions[a] = actions.get(a, 0) + 1
    return (fixed if fixed is not None else reference), motion_focused_prompt(prompt)


@torch.no_grad()
def prepare_latents(
    data_dir: str | Path,
    out_path: str | Path,
    *,
    latent_frames: int = 9,
    variants: tuple[str, ...] = VARIANTS,
    degrade: float = 0.3,
    max_clips: int | None = None,
    vae_path: str | None = None,
    windows_per_clip: int | None = None,
    encode: str = "window",
    progress: bool = True,
) -> dict:
    """Write one latent file holding the clips once and, per variant, the reference latents and prompts.

    `encode`: "window" (default, as all shipped files) encodes each window of `4·F − 3` pixel frames on its own, so
    every window starts with the causal encoder's first latent frames, which change fast (docs/results.md, session
    30); "clip" encodes each clip once and cuts window k from its latent sequence, latent frames [kF, (k+1)F), with
    the audio of pixel frames from 4kF on. Not recommended with the tiny VAE: its encoder was trained on clips of
    up to 49 frames, and its continuous latents past ~33 frames barely move (0.03 per frame against 0.42) and decode
    0.4-0.8 dB worse than the same frames encoded window by window (docs/results.md, session 31); a model trained
    on them learns that off-distribution output. Frame 0 of every window is replaced by the reference latent when
    loaded, in both modes.

    Layout (fp16 tensors): latents [N, F, 16, h, w], audio [N, F, 4, D], ids, source index per window, and
    `variants[name] = {ref [N, 16, h, w], prompt_index [N], context_table [P, L, D_text], prompts [P]}`,
    plus neg_context [L, D_text]. Prompt states are stored once per distinct prompt.
    """
    from ..data.dataset import TalkingHeadDataset
    from ..models.audio_encoder import build_audio_encoder
    from ..models.text_encoder import build_text_encoder
    from ..models.vae_tiny import load_tiny_vae

    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"unknown variant {v!r}; known: {VARIANTS}")
    if encode not in ("window", "clip"):
        raise ValueError(f"encode must be 'window' or 'clip', got {encode!r}")
    ds = TalkingHeadDataset(data_dir, load_tracks=False)
    vae = load_tiny_vae(vae_path)
    text = build_text_encoder("tiny")
    audio_enc = build_audio_encoder("tiny")
    n_pix = 4 * latent_frames - 3
    lat, aud, ids = [], [], []
    refs: dict[str, list] = {v: [] for v in variants}
    prompts: dict[str, list] = {v: [] for v in variants}
    actions: dict[str, int] = {}
    n = len(ds) if max_clips is None else min(len(ds), max_clips)
    for i in tqdm(range(n), desc="prepare", disable=not progress):
        s = ds[i]
        if encode == "clip":  # pixel start 4k of the window whose latents are the clip's [k, k + F)
            starts = [4 * k for k in range(0, len(s.frames), latent_frames) if 4 * k + n_pix <= len(s.frames)]
        else:
            starts = list(range(0, len(s.frames) - n_pix + 1, n_pix))
        starts = starts[:windows_per_clip]
        if not starts:
            continue
        if encode == "clip":
            whole = vae.encode(frames_to_video(s.frames[: 4 * ((len(s.frames) - 1) // 4) + 1]))[0]  # [T_lat, 16, h, w]
        conds = {}
        for v in variants:
            img, prompt = _variant_conditions(s.reference, s.prompt, i, v, degrade, actions)
            conds[v] = (vae.encode(frames_to_video(img[None]))[0, 0], prompt)
        for w, p0 in enumerate(starts):
            if encode == "clip":
                lat.append(whole[p0 // 4 : p0 // 4 + latent_frames])  # [F, 16, h, w]
            else:
                lat.append(vae.encode(frames_to_video(s.frames[p0 : p0 + n_pix]))[0])  # [F, 16, h, w]
            feats = audio_enc.encode(s.audio[p0 * 1000 : (p0 + n_pix) * 1000], num_frames=n_pix)[None]
            aud.append(pack_audio_frames(feats)[0])
            ids.append(f"{s.id}#{w}")
            for v in variants:
                refs[v].append(conds[v][0])
                prompts[v].append(conds[v][1])
    if not lat:
        raise ValueError(f"no clip in {data_dir} is long enough for {latent_frames} latent frames ({n_pix} frames)")
    out = pack_latent_file(lat, aud, ids, refs, prompts, text.encode, degrade)
    out["encode"] = encode
    out["vae_space"] = vae.latent_space_id()  # models trained on these latents are marked with it (session 38)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, out_path.with_suffix(".tmp"))
    out_path.with_suffix(".tmp").replace(out_path)
    return {"windows": len(lat), "source_clips": n, "encode": encode, "curation": actions, "path": str(out_path),
            "distinct_prompts": {v: len(d["prompts"]) for v, d in out["variants"].items()}}
