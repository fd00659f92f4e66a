"""A parameter-only re-creation of the ORIGINAL Wan2.1 VAE module tree (`wan/modules/vae.py`, `WanVAE_`).

Only `__init__` is reproduced (names, nesting and shapes of every parameter), written from the original code's
structure independently of diffusers, so that tests can build a state dict with the exact `Wan2.1_VAE.pth` key
names and check our conversion against it. No forward pass.
"""

from __future__ import annotations

import torch
from torch import nn


class RMS_norm(nn.Module):
    def __init__(self, dim, channel_first=True, images=True):
        super().__init__()
        broadcastable_dims = (1, 1, 1) if not images else (1, 1)
        shape = (dim, *broadcastable_dims) if channel_first else (dim,)
        self.gamma = nn.Parameter(torch.ones(shape))


class Resample(nn.Module):
    def __init__(self, dim, mode):
        super().__init__()
        if mode in ("upsample2d", "upsample3d"):
            self.resample = nn.Sequential(nn.Upsample(scale_factor=2.0), nn.Conv2d(dim, dim // 2, 3, padding=1))
            if mode == "upsample3d":
                self.time_conv = nn.Conv3d(dim, dim * 2, (3, 1, 1))
        else:
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=2))
            if mode == "downsample3d":
                self.time_conv = nn.Conv3d(dim, dim, (3, 1, 1))


class ResidualBlock(nn.Module):
    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.residual = nn.Sequential(
            RMS_norm(in_dim, images=False), nn.SiLU(), nn.Conv3d(in_dim, out_dim, 3),
            RMS_norm(out_dim, images=False), nn.SiLU(), nn.Dropout(0.0), nn.Conv3d(out_dim, out_dim, 3))
        self.shortcut = nn.Conv3d(in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()


class AttentionBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = RMS_norm(dim)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)


class Encoder3d(nn.Module):
    def __init__(self, dim, z_dim, dim_mult, num_res_blocks, temperal_downsample):
        super().__init__()
        dims = [dim * u for u in [1] + dim_mult]
        self.conv1 = nn.Conv3d(3, dims[0], 3)
        downsamples = []
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(num_res_blocks):
                downsamples.append(ResidualBlock(in_dim, out_dim))
                in_dim = out_dim
            if i != len(dim_mult) - 1:
                mode = "downsample3d" if temperal_downsample[i] else "downsample2d"
                downsamples.append(Resample(out_dim, mode))
        self.downsamples = nn.Sequential(*downsamples)
        self.middle = nn.Sequential(ResidualBlock(out_dim, out_dim), AttentionBlock(out_dim),
                                    ResidualBlock(out_dim, out_dim))
        self.head = nn.Sequential(RMS_norm(out_dim, images=False), nn.SiLU(), nn.Conv3d(out_dim, z_dim, 3))


class Decoder3d(nn.Module):
    def __init__(self, dim, z_dim, dim_mult, num_res_blocks, temperal_upsample):
        super().__init__()
        dims = [dim * u for u in [dim_mult[-1]] + dim_mult[::-1]]
        self.conv1 = nn.Conv3d(z_dim, dims[0], 3)
        self.middle = nn.Sequential(ResidualBlock(dims[0], dims[0]), AttentionBlock(dims[0]),
                                    ResidualBlock(dims[0], dims[0]))
        upsamples = []
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
            if i == 1 or i == 2 or i == 3:
                in_dim = in_dim // 2
            for _ in range(num_res_blocks + 1):
                upsamples.append(ResidualBlock(in_dim, out_dim))
                in_dim = out_dim
            if i != len(dim_mult) - 1:
                mode = "upsample3d" if temperal_upsample[i] else "upsample2d"
                upsamples.append(Resample(out_dim, mode))
        self.upsamples = nn.Sequential(*upsamples)
        self.head = nn.Sequential(RMS_norm(out_dim, images=False), nn.SiLU(), nn.Conv3d(out_dim, 3, 3))


class WanVAE_(nn.Module):
    def __init__(self, dim=96, z_dim=16, dim_mult=(1, 2, 4, 4), num_res_blocks=2,
                 temperal_downsample=(False, True, True)):
        super().__init__()
        dim_mult, temperal_downsample = list(dim_mult), list(temperal_downsample)
        self.encoder = Encoder3d(dim, z_dim * 2, dim_mult, num_res_blocks, temperal_downsample)
        self.conv1 = nn.Conv3d(z_dim * 2, z_dim * 2, 1)
        self.conv2 = nn.Conv3d(z_dim, z_dim, 1)
        self.decoder = Decoder3d(dim, z_dim, dim_mult, num_res_blocks, temperal_downsample[::-1])


# ---------------------------------------------------------------------------------------------------- tests
import pytest  # noqa: E402
from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers  # noqa: E402

from livetalk.models.vae import WanVAE, build_autoencoder  # noqa: E402
from livetalk.models.vae_convert import (  # noqa: E402
    KeyLayoutError, detect_layout, diffusers_to_original, original_to_diffusers)

SMALL = dict(base_dim=8, num_res_blocks=2)


def _original_sd(cfg: dict, device="cpu", seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    with torch.device(device):
        ref = WanVAE_(dim=cfg.get("base_dim", 96), num_res_blocks=cfg.get("num_res_blocks", 2))
    if device != "meta":
        for p in ref.parameters():
            p.data.normal_(0, 0.05)
    return dict(ref.state_dict())


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Conv3d on a shared 2-core box is far faster single-threaded (no OpenMP oversubscription)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("cfg", [SMALL, dict(base_dim=8, num_res_blocks=1)])
def test_original_checkpoint_loads_and_round_trips(cfg):
    orig = _original_sd(cfg)
    vae = WanVAE.from_state_dict(orig, cfg, layout="auto")  # strict: missing/unexpected/shape errors raise
    dsd = vae.model.state_dict()
    back = diffusers_to_original(dsd, cfg["num_res_blocks"])
    assert set(back) == set(orig)
    for k, v in orig.items():
        assert torch.equal(back[k], v), k
    assert set(original_to_diffusers(orig, cfg["num_res_blocks"])) == set(dsd)


def test_full_scale_layout_matches_original_and_diffusers_converter():
    """Wan2.1 config (base_dim 96): our renaming equals diffusers' own single-file converter, and every
    converted name/shape matches AutoencoderKLWan (meta tensors, no memory)."""
    orig = _original_sd({}, device="meta")
    ours = original_to_diffusers(orig)
    theirs = convert_wan_vae_to_diffusers(dict(orig))
    assert set(ours) == set(theirs)
    with torch.device("meta"):
        model = build_autoencoder()
    own = model.state_dict()
    assert set(ours) == set(own)
    assert all(tuple(ours[k].shape) == tuple(own[k].shape) for k in own)
    assert detect_layout(orig) == "original" and detect_layout(own) == "diffusers"


def test_wrong_layout_raises_naming_keys():
    orig = _original_sd(SMALL)
    prefixed = {f"model.{k}": v for k, v in orig.items()}
    with pytest.raises(KeyLayoutError, match=r"unexpected keys.*model\.conv1\.bias"):
        WanVAE.from_state_dict(prefixed, SMALL, layout="original")
    missing = dict(orig)
    missing.pop("decoder.head.2.weight")
    with pytest.raises(KeyLayoutError, match=r"missing keys: decoder\.conv_out\.weight"):
        WanVAE.from_state_dict(missing, SMALL)
    extra = dict(orig, **{"decoder.extra.weight": torch.zeros(1)})
    with pytest.raises(KeyLayoutError, match="decoder.extra.weight"):
        WanVAE.from_state_dict(extra, SMALL)
    with pytest.raises(KeyLayoutError, match="shape mismatch"):
        WanVAE.from_state_dict(orig, dict(base_dim=16, num_res_blocks=2))  # wrong config for these weights
    with pytest.raises(KeyLayoutError, match="neither original nor diffusers"):
        WanVAE.from_state_dict({"foo.weight": torch.zeros(1)}, SMALL)


def test_original_pth_file_and_diffusers_folder(tmp_path):
    orig = _original_sd(SMALL, seed=1)
    torch.save(orig, tmp_path / "Wan2.1_VAE.pth")
    vae = WanVAE.from_original(tmp_path / "Wan2.1_VAE.pth", SMALL)
    vae.model.save_pretrained(tmp_path / "diffusers")
    vae2 = WanVAE.from_diffusers(tmp_path / "diffusers")
    z = torch.randn(1, 2, 16, 2, 2)
    with torch.no_grad():
        assert torch.equal(vae.decode(z), vae2.decode(z))
