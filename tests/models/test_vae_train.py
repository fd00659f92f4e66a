"""Training entry points: latent statistics, and one-step smoke runs writing loadable checkpoints."""

import pytest
import torch

from livetalk.models.vae import WanVAE
from livetalk.models.vae_train import VAETrainConfig, latent_stats, train_vae
from livetalk.models.vae_fast_train import FastDecoderTrainConfig, train_fast_decoder
from livetalk.models.vae_tiny import load_tiny_fast_decoder, load_tiny_vae
from livetalk.models.vae_toy_data import ToyFaceSource, make_source


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/models/conftest.py


class _Fixed:
    def __init__(self, x):
        self.x = x

    def sample(self, batch, frames, generator=None):
        return self.x[:batch, :frames]


@torch.no_grad()
def test_latent_stats_are_per_channel():
    torch.manual_seed(0)
    vae = WanVAE.from_config({"base_dim": 8, "num_res_blocks": 1})
    x = torch.rand(2, 5, 3, 16, 16) * 2 - 1
    mean, std = latent_stats(vae, _Fixed(x), 2, 5, seed=0)
    mu, _ = vae.encode_moments(x)  # [B, F, C, h, w]
    torch.testing.assert_close(mean, mu.mean(dim=(0, 1, 3, 4)))
    torch.testing.assert_close(std, mu.std(dim=(0, 1, 3, 4)))


def test_toy_source_shapes_and_mixture():
    g = torch.Generator().manual_seed(0)
    x = ToyFaceSource(32).sample(3, 5, g)
    assert x.shape == (3, 5, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert make_source("toy*2+toy", 16).sample(2, 1, g).shape == (2, 1, 3, 16, 16)


def test_train_smoke_runs_write_loadable_checkpoints(tmp_path):
    vae_path = str(tmp_path / "vae.safetensors")
    s = train_vae(VAETrainConfig(out=vae_path, max_steps=1, batch=1, frames=5, image_batch=2, stat_clips=1,
                                 heldout_clips=1, size=64, crop=32, save_every_min=1e9), log=lambda *_: None)
    assert s["steps"] == 1
    vae = load_tiny_vae(vae_path)
    assert vae.z_dim == 16
    fd_path = str(tmp_path / "fd.safetensors")
    s = train_fast_decoder(FastDecoderTrainConfig(vae=vae_path, out=fd_path, max_steps=1, clips=1, heldout=1,
                                                  frames=5, batch=1, channels=(8, 8, 8, 8), blocks=1),
                           log=lambda *_: None)
    assert s["steps"] == 1 and "psnr_vs_vae_db" in s
    fast = load_tiny_fast_decoder(fd_path)
    assert fast.config.channels == (8, 8, 8, 8)
    assert fast.vae_space == vae.latent_space_id()  # the runtime checks it against the VAE it is paired with


def test_decoder_only_keeps_the_latent_space(tmp_path):
    """--decoder-only: encoder, quant conv and latent normalisation stay bit-identical, the decoder moves."""
    base = str(tmp_path / "base.safetensors")
    train_vae(VAETrainConfig(out=base, max_steps=1, batch=1, frames=5, image_steps=0, stat_clips=1, heldout_clips=1,
                             crop=0, save_every_min=1e9), log=lambda *_: None)
    tuned = str(tmp_path / "tuned.safetensors")
    train_vae(VAETrainConfig(out=tuned, init=base, decoder_only=True, max_steps=2, batch=1, frames=5, image_steps=0,
                             stat_clips=1, heldout_clips=1, crop=0, lr=1e-2, save_every_min=1e9), log=lambda *_: None)
    a, b = load_tiny_vae(base), load_tiny_vae(tuned)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    frozen = [k for k in sa if k.startswith(("encoder.", "quant_conv."))]
    assert frozen and all(torch.equal(sa[k], sb[k]) for k in frozen)
    assert any(not torch.equal(sa[k], sb[k]) for k in sa if k.startswith("decoder."))
    assert a.model.config.latents_mean == b.model.config.latents_mean
    assert a.model.config.latents_std == b.model.config.latents_std
    with pytest.raises(ValueError, match="init"):
        train_vae(VAETrainConfig(out=tuned, decoder_only=True, max_steps=1), log=lambda *_: None)


def test_mouth_weighted_reconstruction_covers_the_rendered_mouth():
    """The default mouth box holds the pixels that opening the mouth changes on world faces, and the weighted
    loss equals the plain one without weights and counts an error inside the box (1 + weight)× more."""
    import numpy as np

    from livetalk.data.identity import sample_identity
    from livetalk.data.render import render_frames
    from livetalk.eval.probe_data import random_states
    from livetalk.models.vae_train import region_weights, weighted_reconstruction

    w = region_weights(64, VAETrainConfig.mouth_box, 9.0)
    rng = np.random.default_rng(0)
    st = random_states(rng, 16)
    st.mouth_open[:] = 0.0
    closed = render_frames(sample_identity(123), st, 64).astype(np.float32)
    st.mouth_open[:] = 1.0
    opened = render_frames(sample_identity(123), st, 64).astype(np.float32)
    change = torch.from_numpy(np.abs(opened - closed).mean(axis=(0, 3)))
    assert float(change[w > 1].sum() / change.sum()) > 0.9

    x, y = torch.zeros(1, 1, 3, 64, 64), torch.rand(1, 1, 3, 64, 64)
    assert torch.allclose(weighted_reconstruction(y, x, None), weighted_reconstruction(y, x, torch.ones(64, 64)))
    inside, outside = torch.zeros_like(x), torch.zeros_like(x)
    inside[..., 40, 32] = 1.0
    outside[..., 5, 5] = 1.0
    ratio = weighted_reconstruction(inside, x, w) / weighted_reconstruction(outside, x, w)
    assert torch.isclose(ratio, torch.tensor(10.0))


@torch.no_grad()
def test_teacher_pairs_can_decode_re_primed():
    """`teacher_warmup`: the teacher pixels are the runtime's re-primed decode of the same latents."""
    from livetalk.models.vae_fast_train import teacher_pairs
    from livetalk.models.vae_reprime import FIRST_SPAN, decode_reprimed

    torch.manual_seed(0)
    vae = WanVAE.from_config({"base_dim": 8, "num_res_blocks": 1}).eval()
    src = _Fixed(torch.rand(1, 57, 3, 16, 16) * 2 - 1)  # 15 latent frames: re-priming starts at latent 9
    z, plain, _ = teacher_pairs(vae, src, 1, 57, seed=0)
    z2, reprimed, _ = teacher_pairs(vae, src, 1, 57, seed=0, teacher_warmup=1)
    torch.testing.assert_close(z2, z)
    torch.testing.assert_close(reprimed, decode_reprimed(vae.stream_decoder, z, 1, first_span=FIRST_SPAN))
    torch.testing.assert_close(reprimed[:, :33], plain[:, :33])
    assert (reprimed[:, 37:] - plain[:, 37:]).abs().max() > 1e-4


def test_reference_fast_decoder_from_a_plain_init_and_cached_pairs(tmp_path):
    """`reference=True` over an unconditioned --init widens conv_in; the teacher pairs are cached and reused."""
    vae_path = str(tmp_path / "vae.safetensors")
    train_vae(VAETrainConfig(out=vae_path, max_steps=1, batch=1, frames=5, image_steps=0, stat_clips=1,
                             heldout_clips=1, crop=0, save_every_min=1e9), log=lambda *_: None)
    base = str(tmp_path / "fd.safetensors")
    common = dict(vae=vae_path, clips=1, heldout=1, frames=5, batch=1, pairs=str(tmp_path / "pairs.pt"))
    train_fast_decoder(FastDecoderTrainConfig(out=base, max_steps=1, channels=(8, 8, 8, 8), blocks=1, **common),
                       log=lambda *_: None)
    logs = []
    out = str(tmp_path / "ref.safetensors")
    train_fast_decoder(FastDecoderTrainConfig(out=out, init=base, reference=True, max_steps=1, **common),
                       log=logs.append)
    assert any("from " + str(tmp_path / "pairs.pt") in line for line in logs)
    m = load_tiny_fast_decoder(out)
    assert m.config.reference and m.conv_in.weight.shape[1] == 32
    with pytest.raises(ValueError, match="reference-conditioned"):
        train_fast_decoder(FastDecoderTrainConfig(out=str(tmp_path / "x.safetensors"), init=out, max_steps=1,
                                                  **common), log=lambda *_: None)
