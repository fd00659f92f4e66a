"""Audio conditioning encoders: public entry point and factory.

* ``scale="full"``: :class:`Wav2VecAudioEncoder` (wav2vec2-base-960h, custom forward, D = 10752).
* ``scale="tiny"``: :class:`LogMelAudioEncoder` (weight-free log-mel, D = 80).

Both map 16 kHz mono float32 audio to ``[T, D]`` features per 16 fps video frame (1000 samples per frame,
zero-padded, never stretched) and stream through :class:`StreamingAudioFeatures`.
"""

from __future__ import annotations

import os

import torch

from livetalk.models.audio_base import (FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, AudioEncoder, AudioInputError,
                                        fit_to_frames, frames_for_samples)
from livetalk.models.audio_logmel import LogMelAudioEncoder
from livetalk.models.audio_streaming import StreamingAudioFeatures
from livetalk.models.audio_wav2vec import Wav2VecAudioEncoder, wav2vec2_base_config

AUDIO_FEATURE_DIMS = {"tiny": 80, "full": 10752}


def build_audio_encoder(scale: str = "tiny", path: str | os.PathLike | None = None,
                        device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                        random_weights: bool = False) -> AudioEncoder:
    """Build the audio encoder of a scale.

    Args:
        scale: ``"tiny"`` (log-mel, no weights) or ``"full"`` (wav2vec2-base-960h).
        path: full scale: the local ``wav2vec2`` folder (``pretrained_checkpoints/wav2vec2``). Required
            unless ``random_weights``.
        device, dtype: placement of the encoder and its output features.
        random_weights: full scale only: build wav2vec2-base from its config with random weights (tests,
            benchmarks; the features are meaningless).
    """
    if scale == "tiny":
        return LogMelAudioEncoder(device=device, dtype=dtype)
    if scale == "full":
        if random_weights:
            return Wav2VecAudioEncoder(wav2vec2_base_config(), device=device, dtype=dtype)
        if path is None:
            raise ValueError("scale='full' needs path= the local wav2vec2-base-960h folder "
                             "(or random_weights=True)")
        return Wav2VecAudioEncoder.from_pretrained(path, device=device, dtype=dtype)
    raise ValueError(f"unknown audio encoder scale {scale!r} (expected 'tiny' or 'full')")


__all__ = ["AUDIO_FEATURE_DIMS", "AudioEncoder", "AudioInputError", "FPS", "LogMelAudioEncoder",
           "SAMPLES_PER_FRAME", "SAMPLE_RATE", "StreamingAudioFeatures", "Wav2VecAudioEncoder",
           "build_audio_encoder", "fit_to_frames", "frames_for_samples", "wav2vec2_base_config"]
