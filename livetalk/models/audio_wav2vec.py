"""Full-scale audio encoder: wav2vec2-base-960h with OmniAvatar/LiveTalk's custom forward (spec §1.2).

Per clip of ``T`` video frames (``T·1000`` samples at 16 kHz, zero-padded, never stretched):

1. whole-clip normalisation ``(x − mean) / sqrt(var + 1e-7)`` (``Wav2Vec2FeatureExtractor``, do_normalize);
2. CNN feature encoder -> ``[B, T_cnn, 512]`` (~50 Hz, 320 samples per step);
3. **linear interpolation to T steps** (``F.interpolate``, ``align_corners=True``) *before*
4. ``feature_projection`` and the 12-layer transformer encoder, which therefore runs on T tokens;
5. output ``concat([last_hidden_state, hidden_states[0], ..., hidden_states[12]], -1)``
   = 14 × 768 = **10752** per frame (``hidden_states[0]`` = encoder input after pos-conv + LayerNorm,
   ``hidden_states[12] == last_hidden_state``). This order is what ``audio_proj`` was trained on.

The transformer loop is written out here (not ``output_hidden_states=True``), so the hidden-state order does
not depend on the installed transformers version; tests check it against HF's own forward.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from livetalk.models.audio_base import AudioEncoder

WAV2VEC_NORM_EPS = 1e-7  # Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm


def wav2vec2_base_config(**overrides):
    """``Wav2Vec2Config`` of facebook/wav2vec2-base-960h (hidden 768, 12 layers, group norm), for
    random-weight tests or building the model without its folder. Keyword overrides shrink it."""
    from transformers import Wav2Vec2Config

    kw = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
              feat_extract_norm="group", do_stable_layer_norm=False, conv_bias=False,
              num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16,
              conv_dim=(512,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2),
              feat_extract_activation="gelu", hidden_act="gelu", layer_norm_eps=1e-5, vocab_size=32)
    kw.update(overrides)
    return Wav2Vec2Config(**kw)


def normalize_wave(wave: torch.Tensor) -> torch.Tensor:
    """Zero mean / unit variance per row of ``[B, N]`` (population variance, eps 1e-7), in float32."""
    wave = wave.to(torch.float32)
    mean = wave.mean(dim=-1, keepdim=True)
    var = wave.var(dim=-1, unbiased=False, keepdim=True)
    return (wave - mean) / torch.sqrt(var + WAV2VEC_NORM_EPS)


def interpolate_frames(features: torch.Tensor, num_frames: int) -> torch.Tensor:
    """``[B, T_cnn, C] -> [B, num_frames, C]``: F.interpolate linear, align_corners=True (OmniAvatar)."""
    out = F.interpolate(features.transpose(1, 2), size=num_frames, mode="linear", align_corners=True)
    return out.transpose(1, 2)


class Wav2VecAudioEncoder(AudioEncoder, torch.nn.Module):
    """wav2vec2 with the LiveTalk custom forward: ``encode(wave [N], T) -> [T, 14·hidden]``.

    Build with :meth:`from_pretrained` (the ``facebook/wav2vec2-base-960h`` folder, local only) or from a
    ``Wav2Vec2Config`` (random weights; tests). Always in eval mode (no SpecAugment, no layerdrop).

    Args:
        config: ``transformers.Wav2Vec2Config``; ignored if ``model`` is given.
        model: an existing ``transformers.Wav2Vec2Model``.
        device, dtype: placement of the model and of the returned features (bf16 at inference, as LiveTalk).
    """

    default_lookahead_ms = 500.0
    default_context_ms = 4000.0

    def __init__(self, config=None, model=None, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        torch.nn.Module.__init__(self)
        from transformers import Wav2Vec2Model

        if model is None:
            if config is None:
                config = wav2vec2_base_config()
            model = Wav2Vec2Model(config)
        if model.config.add_adapter:
            raise ValueError("wav2vec2 adapters are not part of the LiveTalk audio path")
        if model.config.do_stable_layer_norm:
            # large/lv60 variants: transformers 4.x and 5.x disagree on their hidden_states[-1]; LiveTalk
            # only uses wav2vec2-base-960h (post-LN encoder), so refuse rather than guess.
            raise NotImplementedError("do_stable_layer_norm=True wav2vec2 variants are not supported")
        self.model = model.to(device=device, dtype=dtype).eval()
        self.model.requires_grad_(False)
        self.num_layers = model.config.num_hidden_layers
        self.hidden_size = model.config.hidden_size
        self.feature_dim = (self.num_layers + 2) * self.hidden_size  # 14·768 = 10752 at full scale

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, device: torch.device | str = "cpu",
                        dtype: torch.dtype = torch.float32) -> "Wav2VecAudioEncoder":
        """Load ``pretrained_checkpoints/wav2vec2`` (= facebook/wav2vec2-base-960h) with
        ``local_files_only=True``. The CTC checkpoint's ``wav2vec2.`` prefix is stripped by HF and ``lm_head``
        dropped. The folder's preprocessor config must ask for normalisation (do_normalize true)."""
        from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

        folder = os.fspath(folder)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"wav2vec2 folder not found: {folder}")
        model = Wav2Vec2Model.from_pretrained(folder, local_files_only=True)
        try:
            fe = Wav2Vec2FeatureExtractor.from_pretrained(folder, local_files_only=True)
        except OSError:
            fe = None  # no preprocessor_config.json: wav2vec2-base-960h's defaults are the ones used here
        if fe is not None and (not fe.do_normalize or fe.sampling_rate != 16000):
            raise ValueError(f"{folder}: expected do_normalize=True at 16 kHz, got "
                             f"do_normalize={fe.do_normalize}, sampling_rate={fe.sampling_rate}")
        return cls(model=model, device=device, dtype=dtype)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @torch.no_grad()
    def hidden_states(self, wave: torch.Tensor, num_frames: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Custom forward. ``wave [B, N]`` float32 16 kHz (un-normalised) ->
        ``(last_hidden_state [B, T, H], [hidden_states[0..L]] each [B, T, H])``."""
        m = self.model
        x = normalize_wave(wave).to(self.device, self.dtype)
        cnn = m.feature_extractor(x).transpose(1, 2)  # [B, T_cnn, 512]
        cnn = interpolate_frames(cnn, num_frames)  # before projection + transformer (pitfall 4)
        h, _ = m.feature_projection(cnn)
        enc = m.encoder
        states = []
        h = enc.layer_norm(h + enc.pos_conv_embed(h))
        for layer in enc.layers:
            states.append(h)
            h = _layer_out(layer(h))
        states.append(h)
        return h, states

    def encode_frames(self, wave: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``wave [B, T·1000]`` -> ``[B, T, 14·H]`` = cat(last, h0, ..., hL) in the model dtype."""
        last, states = self.hidden_states(wave, num_frames)
        return torch.cat([last, *states], dim=-1)

    def forward(self, wave: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Alias of :meth:`encode` (``[N]`` or ``[B, N]`` 16 kHz float)."""
        return self.encode(wave, num_frames)


def _layer_out(out):
    """HF encoder layers return a tensor (transformers 5) or a tuple (4.x)."""
    return out[0] if isinstance(out, tuple) else out
