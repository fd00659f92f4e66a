"""Re-primed streaming decode: each block from fresh decoders primed with [first latent, warm-up latents]."""

import pytest
import torch

from livetalk.models.vae import WanVAE, pixel_frames
from livetalk.models.vae_fast_decoder import FastDecoder, FastDecoderConfig
from livetalk.models.vae_reprime import RePrimedDecoder, decode_reprimed

from .vae_streaming import decode_in_blocks

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/models/conftest.py


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return WanVAE.from_config(dict(base_dim=8, num_res_blocks=1))


@pytest.fixture(scope="module")
def z():
    return torch.randn(1, 13, 16, 2, 2, generator=torch.Generator().manual_seed(1))


def by_hand(vae, z, warmup, blocks, crossfade, first_span=0):
    """The definition, from whole-clip decodes. A decoder primed for the block at s decodes [z0, z[max(1, s − W) : s]]
    first, so on the block it returns the last 4·n frames of decode([z0, z[max(1, s − W) : s + n]]); the first
    decoder has the whole history, and decodes alone every block that starts before `first_span`. Without crossfade
    a later block is the young decoder's; with it, the decoder of the previous block fades out: frame t =
    (1 − w)·older + w·younger, w = (t + 1)/(4n + 1)."""
    def tail(lo, s, n):
        return vae.decode(torch.cat([z[:, :1], z[:, lo : s + n]], 1))[:, -4 * n :]

    out, s, older_lo = [vae.decode(z[:, : blocks[0]])], blocks[0], 1
    for n in blocks[1:]:
        if s < first_span:
            out.append(tail(1, s, n))
        else:
            young_lo = max(1, s - warmup)
            y = tail(young_lo, s, n)
            if crossfade:
                w = torch.arange(1, 4 * n + 1).view(1, -1, 1, 1, 1) / (4 * n + 1)
                y = (1 - w) * tail(older_lo, s, n) + w * y
            out.append(y)
            older_lo = young_lo
        s += n
    return torch.cat(out, 1)


@torch.no_grad()
@pytest.mark.parametrize("crossfade", [True, False])
@pytest.mark.parametrize("warmup", [0, 1, 2, 4])
def test_reprimed_matches_the_definition(vae, z, warmup, crossfade):
    y = decode_reprimed(vae.stream_decoder, z, warmup, crossfade=crossfade)
    assert y.shape[1] == pixel_frames(z.shape[1])  # same frame count as the continuous decode
    assert (y - by_hand(vae, z, warmup, (3, 3, 3, 3, 1), crossfade)).abs().max().item() < 1e-5


@torch.no_grad()
@pytest.mark.parametrize("first_span", [3, 5, 9])
def test_first_span_keeps_the_first_decoder(vae, z, first_span):
    """Blocks starting before `first_span` come from the first decoder alone (= the continuous decode); the first
    re-primed block fades that decoder out."""
    y = decode_reprimed(vae.stream_decoder, z, 1, first_span=first_span)
    assert (y - by_hand(vae, z, 1, (3, 3, 3, 3, 1), True, first_span)).abs().max().item() < 1e-5
    start = -(-first_span // 3) * 3  # first block start >= first_span
    assert (y[:, : pixel_frames(start)] - vae.decode(z)[:, : pixel_frames(start)]).abs().max().item() < 1e-5


@torch.no_grad()
def test_long_warmup_and_none_equal_the_continuous_decode(vae, z):
    full = vae.decode(z)
    for warmup in (None, z.shape[1]):
        for crossfade in (True, False):
            assert (decode_reprimed(vae.stream_decoder, z, warmup, crossfade=crossfade) - full).abs().max() < 1e-5
    # while the history fits in the warm-up, re-priming changes nothing; after that it does
    y = decode_reprimed(vae.stream_decoder, z, 2)
    assert (y[:, : pixel_frames(6)] - full[:, : pixel_frames(6)]).abs().max().item() < 1e-5
    assert (y - full).abs().max().item() > 1e-3


@torch.no_grad()
def test_uneven_blocks_and_reset(vae, z):
    """Any block sizes: the warm-up is counted in latent frames, not blocks; reset starts a new video."""
    blocks = (1, 2, 4, 1, 5)
    for crossfade in (True, False):
        dec = RePrimedDecoder(vae.stream_decoder, warmup=2, crossfade=crossfade)
        y = decode_in_blocks(dec, z, blocks)
        assert (y - by_hand(vae, z, 2, blocks, crossfade)).abs().max().item() < 1e-5
    dec.reset()
    assert (dec.decode_block(z[:, :3]) - vae.decode(z[:, :3])).abs().max().item() < 1e-5


@torch.no_grad()
def test_works_over_the_fast_decoder(z):
    torch.manual_seed(0)
    fast = FastDecoder(FastDecoderConfig(channels=(16, 12, 8, 8), blocks=1)).eval()
    y = decode_reprimed(fast.stream_decoder, z, 1, crossfade=False)
    assert y.shape == fast.decode(z).shape
    # the block of latents 6–8, primed with latents 0 and 5
    ref = fast.decode(torch.cat([z[:, :1], z[:, 5:9]], 1))[:, -12:]
    assert (y[:, pixel_frames(6) : pixel_frames(9)] - ref).abs().max().item() < 1e-5
    y = decode_reprimed(fast.stream_decoder, z, 1)  # crossfaded: bounded, and the first block untouched
    assert y.abs().max() <= 1.0 and (y[:, :9] - fast.decode(z[:, :3])).abs().max().item() < 1e-5


def test_bad_arguments(vae):
    with pytest.raises(ValueError, match="warmup"):
        RePrimedDecoder(vae.stream_decoder, warmup=-1)
    with pytest.raises(ValueError, match="first_span"):
        RePrimedDecoder(vae.stream_decoder, first_span=-1)
    with pytest.raises(ValueError, match="latents"):
        RePrimedDecoder(vae.stream_decoder).decode_block(torch.zeros(1, 0, 16, 2, 2))
