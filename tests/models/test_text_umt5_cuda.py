"""Full-size UMT5-XXL encoder with random weights on CUDA (skipped without a >= 40 GB GPU)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from livetalk.models.text_umt5 import UMT5TextEncoder, hf_to_wan_umt5, load_wan_umt5, umt5_config  # noqa: E402

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available() or torch.cuda.get_device_properties(0).total_memory < 40e9,
    reason="needs a CUDA GPU with >= 40 GB")


@torch.no_grad()
def test_full_size_umt5_bf16_and_wan_conversion():
    torch.manual_seed(0)
    with torch.device("meta"):
        model = transformers.UMT5EncoderModel(umt5_config())
    model = model.to_empty(device="cuda").to(torch.bfloat16)
    for name, p in model.named_parameters():
        if "layer_norm" in name:
            p.fill_(1.0)
        else:
            p.normal_(0, 1.0 if ("shared" in name or "relative" in name) else 0.02)
    model.encoder.embed_tokens = model.shared
    assert 5.6e9 < sum(p.numel() for p in model.parameters()) < 5.8e9
    ids = torch.randint(3, 256384, (2, 512))
    mask = torch.zeros(2, 512, dtype=torch.long)
    mask[0, :60], mask[1, :] = 1, 1
    ids[0, 60:] = 0
    a = UMT5TextEncoder(model, device="cuda", dtype=torch.bfloat16).encode_ids(ids, mask)
    assert a.shape == (2, 512, 4096) and a.dtype == torch.bfloat16 and torch.isfinite(a).all()
    assert (a[0, 60:] == 0).all() and (a[0, :60].abs().sum(-1) > 0).all()
    wan = hf_to_wan_umt5(model.state_dict())
    assert len(wan) == 242 and wan["blocks.23.ffn.gate.0.weight"].shape == (10240, 4096)
    b = UMT5TextEncoder(load_wan_umt5(wan), device="cuda", dtype=torch.bfloat16).encode_ids(ids, mask)
    assert torch.equal(a, b)
