"""Long-stream decoder fine-tune: window latents, the detached-prefix span decode, and a smoke run that moves the
decoder only."""

import json
from pathlib import Path

import pytest
import torch

from livetalk.data.clip import ClipConfig
from livetalk.data.synth import synth_dataset
from livetalk.models.vae import WanVAE
from livetalk.models.vae_long_decoder import (LongDecoderConfig, decode_after_prefix, pixel_span, train_long_decoder,
                                              window_latents)
from livetalk.models.vae_tiny import build_tiny_vae, load_tiny_vae

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def small_vae() -> WanVAE:
    torch.manual_seed(0)
    return WanVAE.from_config({"base_dim": 8, "num_res_blocks": 1}).eval()


@torch.no_grad()
def test_window_latents_encode_each_window_on_its_own(small_vae):
    x = torch.rand(1, 17, 3, 16, 16) * 2 - 1
    z = window_latents(small_vae, x, window=9)  # windows [0, 9) and [8, 17)
    assert z.shape[1] == 1 + 16 // 4
    torch.testing.assert_close(z[:, :3], small_vae.encode(x[:, :9]))
    torch.testing.assert_close(z[:, 3:], small_vae.encode(x[:, 8:17])[:, 1:])
    z = window_latents(small_vae, x[:, :13], window=9)  # a shorter last window [8, 13)
    assert z.shape[1] == 4
    torch.testing.assert_close(z[:, 3:], small_vae.encode(x[:, 8:13])[:, 1:])
    with pytest.raises(ValueError, match="windows"):
        window_latents(small_vae, x[:, :15], window=9)


def test_pixel_span_tiles_the_stream():
    assert pixel_span(0, 3) == (0, 9) and pixel_span(3, 3) == (9, 21) and pixel_span(6, 2) == (21, 29)


@torch.no_grad()
def test_span_after_a_detached_prefix_equals_the_full_decode(small_vae):
    z = torch.randn(1, 7, 16, 2, 2)
    full = small_vae.decode(z)
    for start in (0, 2, 4):
        a, b = pixel_span(start, 3)
        torch.testing.assert_close(decode_after_prefix(small_vae, z, start, 3).clamp(-1, 1), full[:, a:b],
                                   atol=1e-5, rtol=1e-5)


def test_span_gradient_reaches_the_decoder_only_through_the_span(small_vae):
    z = torch.randn(1, 5, 16, 2, 2)
    w = small_vae.model.decoder.conv_in.weight
    w.requires_grad_(True)
    try:
        y = decode_after_prefix(small_vae, z, 2, 3)
        (g,) = torch.autograd.grad(y.square().mean(), w)
        assert g.abs().sum() > 0
    finally:
        w.requires_grad_(False)


@pytest.fixture
def world_and_base(tmp_path):
    """A 3-clip world (4.2 s each) in `tmp_path/world` and a freshly initialised tiny VAE to fine-tune."""
    synth_dataset(tmp_path / "world", 3, ClipConfig(duration_s=4.2))
    base = tmp_path / "base.safetensors"
    torch.manual_seed(0)
    build_tiny_vae().save_file(base)
    return base


def test_smoke_run_moves_the_decoder_and_keeps_the_latent_space(tmp_path, world_and_base):
    base = world_and_base
    out = tmp_path / "long.safetensors"
    s = train_long_decoder(_cfg(tmp_path, out, base), log=lambda *_: None)
    assert s["steps"] == 4 and s["loss_ema"] == s["loss_ema"]  # finite
    assert s["best"]["step"] in (2, 4) and s["best"]["psnr"] >= s["start"]["psnr"]  # the best EMA decoder is kept
    assert not Path(str(out) + ".resume.pt").exists()  # a finished run leaves nothing to resume
    a, b = load_tiny_vae(base).model.state_dict(), load_tiny_vae(out).model.state_dict()
    frozen = [k for k in a if k.startswith(("encoder.", "quant_conv."))]  # stored as fp16 by the fine-tune
    assert frozen and all(torch.equal(a[k].half(), b[k].half()) for k in frozen)
    assert any(not torch.equal(a[k].half(), b[k].half()) for k in a if k.startswith("decoder."))
    with pytest.raises(ValueError, match="frames"):
        train_long_decoder(LongDecoderConfig(data=str(tmp_path / "world"), out=str(out), init=str(base), frames=129,
                                             clips=1, heldout=1, max_steps=1), log=lambda *_: None)
    with pytest.raises(ValueError, match="held-out"):
        train_long_decoder(LongDecoderConfig(data=str(tmp_path / "world"), out=str(out), init=str(base), frames=65,
                                             clips=3, heldout=1, max_steps=1), log=lambda *_: None)


def _cfg(tmp_path, out, base, **kw) -> LongDecoderConfig:
    return LongDecoderConfig(data=str(tmp_path / "world"), out=str(out), init=str(base), frames=65, clips=2, heldout=1,
                             batch=2, max_steps=4, warmup=1, eval_every=2, lr=1e-3, threads=1, log_every=1, **kw)


def test_a_killed_run_resumes_to_the_same_weights(tmp_path, world_and_base):
    """Stop after 3 of 4 steps (the stream is mid-clip, its decoder cache live), resume, and match a straight run."""
    base = world_and_base
    straight, killed = tmp_path / "straight.safetensors", tmp_path / "killed.safetensors"
    train_long_decoder(_cfg(tmp_path, straight, base), log=lambda *_: None)
    train_long_decoder(_cfg(tmp_path, killed, base, stop_at=3), log=lambda *_: None)
    assert Path(str(killed) + ".resume.pt").exists()
    lines = []
    s = train_long_decoder(_cfg(tmp_path, killed, base), log=lines.append)
    steps = [json.loads(x)["step"] for x in lines if x.startswith('{"step"') and "loss_ema" in x]
    assert any('"resumed"' in x for x in lines) and steps == [4]  # only the missing step was trained
    assert s["steps"] == 4
    a, b = load_tiny_vae(straight).model.state_dict(), load_tiny_vae(killed).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
