"""UMT5 text encoder: Wan key conversion against an independent Wan-T5 re-implementation, padding zeroing,
tokenizer path, cache. Tiny random configs only (CPU)."""

import math

import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip("transformers")

from livetalk.models.text_encoder import build_text_encoder, clean_prompt  # noqa: E402
from livetalk.models.text_umt5 import (UMT5TextEncoder, config_from_wan_state_dict, hf_to_wan_umt5,  # noqa: E402
                                       load_wan_umt5, umt5_config, wan_to_hf_umt5)

VOCAB = ["<pad>", "</s>", "<unk>", "a", "realistic", "video", "of", "person", "speaking", "hello", "world",
         "the", "camera", "to", "directly"]


def tiny_config(**kw):
    return umt5_config(vocab_size=64, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_heads=4, **kw)


def wan_random_state_dict(cfg, seed=0):
    """A checkpoint with the published Wan key names and shapes (spec §1.3), random values."""
    g = torch.Generator().manual_seed(seed)
    d, ff, n, inner = cfg.d_model, cfg.d_ff, cfg.num_heads, cfg.num_heads * cfg.d_kv

    def r(*shape, s=0.2):
        return torch.randn(*shape, generator=g) * s

    sd = {"token_embedding.weight": r(cfg.vocab_size, d, s=1.0), "norm.weight": 1 + r(d, s=0.1)}
    for i in range(cfg.num_layers):
        p = f"blocks.{i}."
        sd.update({p + "norm1.weight": 1 + r(d, s=0.1), p + "norm2.weight": 1 + r(d, s=0.1),
                   p + "attn.q.weight": r(inner, d), p + "attn.k.weight": r(inner, d),
                   p + "attn.v.weight": r(inner, d), p + "attn.o.weight": r(d, inner),
                   p + "ffn.gate.0.weight": r(ff, d), p + "ffn.fc1.weight": r(ff, d),
                   p + "ffn.fc2.weight": r(d, ff),
                   p + "pos_embedding.embedding.weight": r(cfg.relative_attention_num_buckets, n, s=1.0)})
    return sd


# ------------------------------------------------ independent reference: Wan's T5 encoder, written from spec
def _rms(x, w, eps=1e-6):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def _wan_bucket(rel, num_buckets=32, max_dist=128):
    num_buckets //= 2  # bidirectional
    buckets = (rel > 0).long() * num_buckets
    rel = rel.abs()
    max_exact = num_buckets // 2
    large = max_exact + (torch.log(rel.float() / max_exact) / math.log(max_dist / max_exact)
                         * (num_buckets - max_exact)).long()
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(rel < max_exact, rel, large)


def wan_t5_reference(sd, ids, mask, num_heads, max_dist=128):
    """fc2(fc1(x) * gelu(gate(x))), per-layer relative bias, no 1/sqrt(d) scaling, RMS norm eps 1e-6."""
    b, L = ids.shape
    x = F.embedding(ids, sd["token_embedding.weight"])
    layers = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    pos = torch.arange(L)
    for i in range(layers):
        p = f"blocks.{i}."
        h = _rms(x, sd[p + "norm1.weight"])
        q, k, v = (F.linear(h, sd[p + f"attn.{n}.weight"]).view(b, L, num_heads, -1) for n in "qkv")
        table = sd[p + "pos_embedding.embedding.weight"]
        bias = F.embedding(_wan_bucket(pos[None] - pos[:, None], table.shape[0], max_dist), table)
        attn = torch.einsum("binc,bjnc->bnij", q, k) + bias.permute(2, 0, 1)[None]
        attn = attn.masked_fill(mask.view(b, 1, 1, L) == 0, torch.finfo(x.dtype).min).softmax(-1)
        o = torch.einsum("bnij,bjnc->binc", attn, v).reshape(b, L, -1)
        x = x + F.linear(o, sd[p + "attn.o.weight"])
        h = _rms(x, sd[p + "norm2.weight"])
        ff = F.linear(h, sd[p + "ffn.fc1.weight"]) * _gelu_tanh(F.linear(h, sd[p + "ffn.gate.0.weight"]))
        x = x + F.linear(ff, sd[p + "ffn.fc2.weight"])
    return _rms(x, sd["norm.weight"])


def ids_and_mask(lengths, L, vocab=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (len(lengths), L), generator=g)
    mask = (torch.arange(L)[None] < torch.tensor(lengths)[:, None]).long()
    ids[mask == 0] = 0
    for row, n in enumerate(lengths):
        ids[row, n - 1] = 1  # </s>
    return ids, mask


# ------------------------------------------------ tests
def test_wan_checkpoint_matches_independent_reference():
    cfg = tiny_config()
    sd = wan_random_state_dict(cfg)
    assert config_from_wan_state_dict(sd).to_dict()["d_ff"] == 48
    enc = UMT5TextEncoder(load_wan_umt5(sd), max_length=160)
    ids, mask = ids_and_mask([160, 70, 5], 160)  # long enough to use the log-spaced buckets (>= 128 apart)
    out = enc.encode_ids(ids, mask)
    ref = wan_t5_reference(sd, ids, mask, cfg.num_heads)
    for row, n in enumerate([160, 70, 5]):
        assert torch.allclose(out[row, :n], ref[row, :n], atol=1e-4), (out[row, :n] - ref[row, :n]).abs().max()
        assert torch.equal(out[row, n:], torch.zeros_like(out[row, n:]))  # padding exactly 0.0


def test_gate_fc1_swap_would_be_caught():
    cfg = tiny_config()
    sd = wan_random_state_dict(cfg)
    swapped = dict(sd)
    for i in range(cfg.num_layers):
        swapped[f"blocks.{i}.ffn.gate.0.weight"] = sd[f"blocks.{i}.ffn.fc1.weight"]
        swapped[f"blocks.{i}.ffn.fc1.weight"] = sd[f"blocks.{i}.ffn.gate.0.weight"]
    ids, mask = ids_and_mask([12], 12)
    good = UMT5TextEncoder(load_wan_umt5(sd), max_length=12).encode_ids(ids, mask)
    bad = UMT5TextEncoder(load_wan_umt5(swapped), max_length=12).encode_ids(ids, mask)
    assert not torch.allclose(good, bad, atol=1e-3)


def test_round_trip_hf_wan_hf():
    torch.manual_seed(0)
    model = transformers.UMT5EncoderModel(tiny_config()).eval()
    hf_sd = model.state_dict()
    wan_sd = hf_to_wan_umt5(hf_sd)
    assert "token_embedding.weight" in wan_sd and "blocks.1.pos_embedding.embedding.weight" in wan_sd
    assert set(wan_sd) == set(wan_random_state_dict(tiny_config()))  # exactly the published key set
    back = wan_to_hf_umt5(wan_sd)
    assert set(back) == set(hf_sd)
    assert all(torch.equal(back[k], hf_sd[k]) for k in hf_sd)
    ids, mask = ids_and_mask([20, 9], 20)
    a = UMT5TextEncoder(model, max_length=20).encode_ids(ids, mask)
    b = UMT5TextEncoder(load_wan_umt5(wan_sd), max_length=20).encode_ids(ids, mask)
    assert torch.equal(a, b)
    with pytest.raises(KeyError):
        wan_to_hf_umt5({"model.blocks.0.norm1.weight": torch.ones(2)})


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                                unk_token="<unk>")


def test_from_wan_pth_with_tokenizer_folder(tmp_path):
    cfg = tiny_config()
    sd = {k: v.to(torch.bfloat16) for k, v in wan_random_state_dict(cfg).items()}
    pth = tmp_path / "models_t5_umt5-xxl-enc-bf16.pth"
    torch.save(sd, pth)
    tiny_tokenizer().save_pretrained(tmp_path / "google" / "umt5-xxl")  # Wan's layout
    enc = build_text_encoder("full", path=pth, dtype=torch.float32)
    enc.max_length = 16
    out = enc.encode("a   realistic\nvideo of a person")  # 6 words + </s> = 7 tokens
    assert out.shape == (1, 16, 32) and out.dtype == torch.float32
    assert torch.equal(out[0, 7:], torch.zeros(9, 32)) and (out[0, :7].abs().sum(-1) > 0).all()
    # the tokenizer output: cleaned text, </s> appended, padded with 0 to max_length
    ids, mask = enc.tokenize([clean_prompt("hello  world")])
    assert ids[0, :3].tolist() == [9, 10, 1] and mask.sum() == 3 and ids.shape == (1, 16)
    assert not torch.signbit(out[0, 7:]).any()  # +0.0, not -0.0
    # cache: same cleaned prompt -> not re-encoded, LRU bounded
    calls = []
    orig = enc.encode_ids
    enc.encode_ids = lambda ids, mask: calls.append(ids.shape[0]) or orig(ids, mask)
    assert torch.equal(enc.encode("a realistic video of a person "), out) and calls == []
    enc.cache_size = 2
    batch = enc.encode(["hello", "world", "the camera", "hello"])
    assert batch.shape == (4, 16, 32) and torch.equal(batch[0], batch[3]) and len(enc._cache) == 2
    assert calls == [3]  # one batched call for the three new prompts


def test_missing_tokenizer_is_clear(tmp_path):
    pth = tmp_path / "t5.pth"
    torch.save(wan_random_state_dict(tiny_config()), pth)
    with pytest.raises(FileNotFoundError, match="umt5-xxl"):
        UMT5TextEncoder.from_pretrained(pth)
    with pytest.raises(FileNotFoundError):
        UMT5TextEncoder.from_pretrained(tmp_path / "nothing.pth")


def test_hf_folder_and_bf16(tmp_path):
    torch.manual_seed(0)
    model = transformers.UMT5EncoderModel(tiny_config()).eval()
    model.save_pretrained(tmp_path)
    tiny_tokenizer().save_pretrained(tmp_path)
    enc = UMT5TextEncoder.from_pretrained(tmp_path, dtype=torch.bfloat16, max_length=8)
    out = enc.encode(["hello world"])
    assert out.shape == (1, 8, 32) and out.dtype == torch.bfloat16 and torch.equal(out[0, 3:], out[0, 3:] * 0)


def test_full_config_shapes_on_meta():
    with torch.device("meta"):
        model = transformers.UMT5EncoderModel(umt5_config())
    n = sum(p.numel() for p in model.parameters())
    assert 5.5e9 < n < 6.0e9  # UMT5-XXL encoder incl. the 256384x4096 embedding
    enc = UMT5TextEncoder(model, device="meta")  # (HF's mask code calls .item(): no forward on meta)
    assert enc.dim == 4096 and enc.max_length == 512
    wan_keys = hf_to_wan_umt5(model.state_dict())
    assert wan_keys["blocks.23.ffn.gate.0.weight"].shape == (10240, 4096)
    assert wan_keys["blocks.0.pos_embedding.embedding.weight"].shape == (32, 64)
    assert wan_keys["token_embedding.weight"].shape == (256384, 4096) and len(wan_keys) == 2 + 24 * 10
