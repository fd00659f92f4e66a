"""Full-scale text encoder: UMT5-XXL encoder through ``transformers.UMT5EncoderModel`` (spec §1.3).

Loads either a HF folder (``config.json`` + weights) or Wan's ``models_t5_umt5-xxl-enc-bf16.pth`` via
:func:`wan_to_hf_umt5`. Wan key -> HF key (per layer ``i``):

====================================  ===========================================================
``token_embedding.weight``            ``shared.weight`` and ``encoder.embed_tokens.weight`` (tied)
``blocks.i.norm1.weight``             ``encoder.block.i.layer.0.layer_norm.weight``
``blocks.i.attn.{q,k,v,o}.weight``    ``encoder.block.i.layer.0.SelfAttention.{q,k,v,o}.weight``
``blocks.i.pos_embedding.embedding``  ``encoder.block.i.layer.0.SelfAttention.relative_attention_bias``
``blocks.i.norm2.weight``             ``encoder.block.i.layer.1.layer_norm.weight``
``blocks.i.ffn.gate.0.weight``        ``encoder.block.i.layer.1.DenseReluDense.wi_0.weight``
``blocks.i.ffn.fc1.weight``           ``encoder.block.i.layer.1.DenseReluDense.wi_1.weight``
``blocks.i.ffn.fc2.weight``           ``encoder.block.i.layer.1.DenseReluDense.wo.weight``
``norm.weight``                       ``encoder.final_layer_norm.weight``
====================================  ===========================================================

The FFN mapping follows from the two formulas: Wan ``fc2(fc1(x) · gelu_tanh(gate(x)))`` and HF gated-gelu
``wo(gelu_new(wi_0(x)) · wi_1(x))``, so gate = wi_0 (the activated branch) and fc1 = wi_1 (the linear one).
Tests check this against an independent re-implementation of Wan's T5 encoder.

Tokenisation: ``google/umt5-xxl`` tokenizer (a local folder; no download), padding and truncation to 512 with
special tokens (``</s>`` appended). Output ``[B, 512, 4096]``, positions at/after the true length = 0.0.
"""

from __future__ import annotations

import os
import re

import torch

from livetalk.models.text_encoder import TextEncoder, zero_padding

UMT5_XXL = dict(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                relative_attention_num_buckets=32, relative_attention_max_distance=128)
WAN_T5_FILE = "models_t5_umt5-xxl-enc-bf16.pth"

_LAYER_MAP = {  # Wan suffix in blocks.{i}. -> HF suffix in encoder.block.{i}.
    "norm1.weight": "layer.0.layer_norm.weight",
    "attn.q.weight": "layer.0.SelfAttention.q.weight",
    "attn.k.weight": "layer.0.SelfAttention.k.weight",
    "attn.v.weight": "layer.0.SelfAttention.v.weight",
    "attn.o.weight": "layer.0.SelfAttention.o.weight",
    "pos_embedding.embedding.weight": "layer.0.SelfAttention.relative_attention_bias.weight",
    "norm2.weight": "layer.1.layer_norm.weight",
    "ffn.gate.0.weight": "layer.1.DenseReluDense.wi_0.weight",
    "ffn.fc1.weight": "layer.1.DenseReluDense.wi_1.weight",
    "ffn.fc2.weight": "layer.1.DenseReluDense.wo.weight",
}
_GLOBAL_MAP = {"norm.weight": "encoder.final_layer_norm.weight"}


def umt5_config(**overrides):
    """``transformers.UMT5Config`` of the UMT5-XXL encoder (Wan2.1); overrides shrink it for tests."""
    from transformers import UMT5Config

    kw = dict(UMT5_XXL, feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6, dropout_rate=0.0,
              is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False, pad_token_id=0,
              eos_token_id=1)
    kw.update(overrides)
    return UMT5Config(**kw)


def wan_to_hf_umt5(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Wan T5-encoder state dict -> ``UMT5EncoderModel`` state dict. Raises ``KeyError`` on unknown keys."""
    out: dict[str, torch.Tensor] = {}
    for key, val in sd.items():
        if key == "token_embedding.weight":
            out["shared.weight"] = val
            out["encoder.embed_tokens.weight"] = val
        elif key in _GLOBAL_MAP:
            out[_GLOBAL_MAP[key]] = val
        else:
            m = re.fullmatch(r"blocks\.(\d+)\.(.+)", key)
            if m is None or m.group(2) not in _LAYER_MAP:
                raise KeyError(f"unexpected key in Wan T5 checkpoint: {key}")
            out[f"encoder.block.{m.group(1)}.{_LAYER_MAP[m.group(2)]}"] = val
    return out


def hf_to_wan_umt5(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`wan_to_hf_umt5` (``encoder.embed_tokens`` is dropped: it is tied to ``shared``)."""
    inv_layer = {v: k for k, v in _LAYER_MAP.items()}
    inv_global = {v: k for k, v in _GLOBAL_MAP.items()}
    out: dict[str, torch.Tensor] = {}
    for key, val in sd.items():
        if key == "shared.weight":
            out["token_embedding.weight"] = val
        elif key == "encoder.embed_tokens.weight":
            continue
        elif key in inv_global:
            out[inv_global[key]] = val
        else:
            m = re.fullmatch(r"encoder\.block\.(\d+)\.(.+)", key)
            if m is None or m.group(2) not in inv_layer:
                raise KeyError(f"unexpected key in UMT5 encoder state dict: {key}")
            out[f"blocks.{m.group(1)}.{inv_layer[m.group(2)]}"] = val
    return out


def config_from_wan_state_dict(sd: dict[str, torch.Tensor], **overrides):
    """Infer the UMT5 config (vocab, dims, layers, heads, buckets) from a Wan T5 state dict's shapes."""
    vocab, d_model = sd["token_embedding.weight"].shape
    layers = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    buckets, heads = sd["blocks.0.pos_embedding.embedding.weight"].shape
    inner = sd["blocks.0.attn.q.weight"].shape[0]
    d_ff = sd["blocks.0.ffn.fc1.weight"].shape[0]
    kw = dict(vocab_size=vocab, d_model=d_model, num_layers=layers, num_heads=heads, d_kv=inner // heads,
              d_ff=d_ff, relative_attention_num_buckets=buckets)
    kw.update(overrides)
    return umt5_config(**kw)


def load_wan_umt5(path_or_sd, dtype: torch.dtype | None = None):
    """Build a ``UMT5EncoderModel`` from Wan's ``.pth`` (or its state dict), strict key check.

    Weights keep the checkpoint dtype (bf16) unless ``dtype`` is given; no fp32 copy of the 5.7B model is
    made (built on the meta device, tensors assigned)."""
    from transformers import UMT5EncoderModel

    if isinstance(path_or_sd, dict):
        sd = path_or_sd
    else:
        sd = torch.load(os.fspath(path_or_sd), map_location="cpu", weights_only=True, mmap=True)
    config = config_from_wan_state_dict(sd)
    hf_sd = wan_to_hf_umt5(sd)
    if dtype is not None:
        hf_sd = {k: v.to(dtype) for k, v in hf_sd.items()}
    with torch.device("meta"):
        model = UMT5EncoderModel(config)
    missing, unexpected = model.load_state_dict(hf_sd, strict=False, assign=True)
    if missing or unexpected:
        raise KeyError(f"Wan T5 -> UMT5 conversion mismatch: missing {missing}, unexpected {unexpected}")
    model.encoder.embed_tokens = model.shared  # keep the tie after assign
    return model.eval()


class UMT5TextEncoder(TextEncoder):
    """UMT5 encoder: prompts -> ``[B, max_length, d_model]`` (``[B, 512, 4096]`` at full scale).

    Args:
        model: a ``transformers.UMT5EncoderModel``.
        tokenizer: a HF tokenizer (``google/umt5-xxl``), or ``None`` to use :meth:`encode_ids` only.
        max_length: token count L (512).
        device, dtype: placement of the model and of the output.
        cache_size: prompts kept in the LRU cache.
    """

    def __init__(self, model, tokenizer=None, max_length: int = 512, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, cache_size: int = 32):
        super().__init__(cache_size)
        self.model = model.to(device=device, dtype=dtype).eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.dim = model.config.d_model
        self.device = torch.device(device)
        self.dtype = dtype

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, tokenizer_path: str | os.PathLike | None = None,
                        device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                        max_length: int = 512, cache_size: int = 32) -> "UMT5TextEncoder":
        """``path``: HF ``UMT5EncoderModel`` folder or Wan ``models_t5_umt5-xxl-enc-bf16.pth``.
        ``tokenizer_path``: defaults to ``<dir of .pth>/google/umt5-xxl`` (Wan layout) or the HF folder."""
        from transformers import AutoTokenizer, UMT5EncoderModel

        path = os.fspath(path)
        if os.path.isdir(path):
            model = UMT5EncoderModel.from_pretrained(path, local_files_only=True, dtype=dtype)
            default_tok = path
        elif os.path.isfile(path):
            model = load_wan_umt5(path, dtype=dtype)
            default_tok = os.path.join(os.path.dirname(path), "google", "umt5-xxl")
        else:
            raise FileNotFoundError(f"UMT5 weights not found: {path}")
        tok_dir = os.fspath(tokenizer_path) if tokenizer_path is not None else default_tok
        try:
            tokenizer = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise FileNotFoundError(
                f"UMT5 tokenizer not found in {tok_dir!r}: put the google/umt5-xxl tokenizer files there "
                f"(tokenizer.json or spiece.model + configs) or pass tokenizer_path=") from exc
        return cls(model, tokenizer, max_length=max_length, device=device, dtype=dtype, cache_size=cache_size)

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.tokenizer is None:
            raise RuntimeError("no tokenizer: use encode_ids(ids, mask) or build with a tokenizer")
        t = self.tokenizer(prompts, padding="max_length", truncation=True, max_length=self.max_length,
                           add_special_tokens=True, return_tensors="pt")
        return t["input_ids"], t["attention_mask"]

    @torch.no_grad()
    def encode_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ids, mask = ids.to(self.device), mask.to(self.device)
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        return zero_padding(hidden.to(self.dtype), mask.sum(dim=1))
