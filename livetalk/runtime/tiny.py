"""Build the shipped tiny Performer (no download): student DiT, tiny VAE, fast decoder, MiniLM, log-mel.

Weights live in `livetalk/models/weights/`. A missing file is an error that says how to make it; only
`random_weights=True` (benchmarks, tests) builds untrained models, and it says so in `AvatarPerformer.info`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..models.checkpoint import check_latent_space, load_dit, trained_with_still_cond
from ..models.dit import build_dit
from .avatar import AvatarModels, AvatarSession, PipelinedSession, RuntimeConfig

WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "weights"
TINY_STUDENT = WEIGHTS / "tiny_student.safetensors"


def build_tiny_models(
    student: str | Path | None = None,
    *,
    decoder: str = "fast",
    random_weights: bool = False,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    vae_path: str | Path | None = None,
    fast_decoder_path: str | Path | None = None,
) -> AvatarModels:
    """Models of the tiny Performer. `decoder`: "fast" (TAEHV-style) or "vae" (the tiny Wan VAE decoder).
    `vae_path` / `fast_decoder_path`: other files than the shipped ones. A student or fast decoder marked with
    another latent space than the VAE's (`WanVAE.latent_space_id`, session 38) is a `ValueError`."""
    from ..models.audio_encoder import build_audio_encoder
    from ..models.text_encoder import build_text_encoder
    from ..models.vae_tiny import build_tiny_vae, load_tiny_fast_decoder, load_tiny_vae

    if random_weights:
        from ..models.vae_fast_decoder import TINY_FAST_DECODER, FastDecoder

        dit = build_dit("tiny", device=device, dtype=dtype, seed=0)
        still_cond = False
        vae = build_tiny_vae(device=device, dtype=dtype)
        fast = FastDecoder(TINY_FAST_DECODER).to(device=device, dtype=dtype).eval()
    else:
        path = Path(student) if student else TINY_STUDENT
        if not path.is_file():
            raise FileNotFoundError(
                f"student checkpoint {path} not found: train it (docs/distillation.md) or pass random_weights=True"
            )
        still_cond = trained_with_still_cond(path)  # trained with `ref_video`: build the same cond
        dit = load_dit(path, preset="tiny", device=device, dtype=dtype)
        vae = load_tiny_vae(vae_path, device=device, dtype=dtype)
        space = vae.latent_space_id()
        what = f"the VAE {vae_path or 'weights/tiny_vae.safetensors'}"
        check_latent_space(path, space, what)  # a student of another VAE's latents decodes to garbage, silently
        fast = load_tiny_fast_decoder(fast_decoder_path, device=device, dtype=dtype) if decoder == "fast" else None
        if fast is not None and fast.vae_space and fast.vae_space != space:
            raise ValueError(f"the fast decoder {fast_decoder_path or 'weights/tiny_vae_fast_decoder.safetensors'} "
                             f"was distilled from VAE space {fast.vae_space}, but {what} is space {space}: "
                             "re-distil it (`livetalk vae-train --what fast-decoder --vae …`) or use --decoder vae")
    if decoder == "fast":
        factory = fast.stream_decoder
    elif decoder == "vae":
        factory = vae.stream_decoder
    else:
        raise ValueError(f"decoder must be 'fast' or 'vae', got {decoder!r}")
    text = build_text_encoder("tiny", device=device)
    audio = build_audio_encoder("tiny", device=device)
    return AvatarModels(dit, vae, factory, text, audio, device=device, still_cond=still_cond)


class AvatarPerformer:
    """`Performer` over shared models; sessions are pipelined (denoise ∥ decode) unless told otherwise."""

    def __init__(self, models: AvatarModels, cfg: RuntimeConfig | None = None, pipelined: bool = True,
                 info: dict | None = None):
        self.models = models
        self.cfg = cfg or RuntimeConfig()
        self.pipelined = pipelined
        self.info = info or {}

    def new_session(self, reference_image: np.ndarray, prompt: str):
        session = AvatarSession(self.models, reference_image, prompt, self.cfg)
        return PipelinedSession(session) if self.pipelined else session


# Re-primed, crossfaded decoding (`models/vae_reprime.py`), by decoder: the VAE decoder drifts on long streams when
# run continuously and holds with 1 latent frame of warm-up; the fast decoder sees the reference latent at every
# frame instead (session 23) and stays continuous (docs/vae.md, "Re-primed decoding", "A fast decoder that sees the
# reference"). None = one continuous decoder.
TINY_DECODER_WARMUP = {"vae": 1, "fast": None}


def tiny_performer(random_weights: bool = False, decoder: str = "fast", pipelined: bool | None = None,
                   device: str = "cpu", **cfg) -> AvatarPerformer:
    """`pipelined=None`: denoise ∥ decode threads on CUDA only. On a 2-core CPU every op already uses both
    cores, and the two threads measured slower than sequential (docs/benchmarks.md). `cfg`: RuntimeConfig fields;
    `decoder_warmup` defaults to TINY_DECODER_WARMUP[decoder]."""
    if pipelined is None:
        pipelined = not str(device).startswith("cpu")
    cfg.setdefault("decoder_warmup", TINY_DECODER_WARMUP.get(decoder))
    models = build_tiny_models(random_weights=random_weights, decoder=decoder, device=device)
    return AvatarPerformer(models, RuntimeConfig(**cfg), pipelined,
                           info={"model": "tiny", "random_weights": random_weights, "decoder": decoder})
