"""Checkpoint save / load round trips, prefix stripping, layout detection and clear layout errors."""

import pytest
import torch
from safetensors.torch import save_file

from livetalk.cli import main as cli_main
from livetalk.models.checkpoint import (
    CONFIG_METADATA_KEY,
    CheckpointLayoutError,
    average_checkpoints,
    checkpoint_info,
    detect_config,
    expected_shapes,
    key_hash,
    load_dit,
    read_shapes,
    read_state_dict,
    save_dit,
    shapes_of,
    strip_prefixes,
)
from livetalk.models.config import apply_overrides, get_preset
from livetalk.models.dit import build_dit

from .dit_inputs import random_inputs


@pytest.fixture(scope="module")
def tiny():
    return build_dit("tiny", seed=7).eval()


def _out(model):
    x, t, ctx, cond, audio = random_inputs(model.cfg, batch=1, frames=3)
    with torch.no_grad():
        return model(x, t, ctx, cond, audio, causal_block=3)


def test_safetensors_round_trip_identical_outputs(tiny, tmp_path):
    path = save_dit(tiny, tmp_path / "tiny.safetensors")
    loaded = load_dit(path)
    assert loaded.cfg == tiny.cfg
    assert torch.equal(_out(loaded), _out(tiny))


def test_custom_config_round_trip_via_metadata(tmp_path):
    cfg = apply_overrides(get_preset("tiny"), {"num_layers": 4, "dim": 128, "num_heads": 4})
    model = build_dit(cfg, seed=1).eval()
    loaded = load_dit(save_dit(model, tmp_path / "c.safetensors"))
    assert loaded.cfg == cfg and torch.equal(_out(loaded), _out(model))


def test_metadata_config_wins_over_a_preset_with_the_same_shapes(tmp_path):
    """rope_theta changes no tensor shape: the stored config must not be replaced by the tiny preset's."""
    cfg = apply_overrides(get_preset("tiny"), {"rope_theta": 500.0})
    model = build_dit(cfg, seed=1).eval()
    loaded = load_dit(save_dit(model, tmp_path / "r.safetensors"))
    assert loaded.cfg.rope_theta == 500.0 and torch.equal(_out(loaded), _out(model))


def test_pth_with_generator_subdict_and_prefixes(tiny, tmp_path):
    sd = {f"model._fsdp_wrapped_module.{k}": v for k, v in tiny.state_dict().items()}
    torch.save({"generator": sd, "step": 3}, tmp_path / "ckpt.pt")
    loaded = load_dit(tmp_path / "ckpt.pt")
    assert loaded.cfg.name == "tiny" and torch.equal(_out(loaded), _out(tiny))


def test_renamed_key_gives_clear_error(tiny, tmp_path):
    sd = dict(tiny.state_dict())
    sd["blocks.0.self_attn.q_renamed.weight"] = sd.pop("blocks.0.self_attn.q.weight")
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(CheckpointLayoutError) as err:
        load_dit(tmp_path / "bad.safetensors")
    msg = str(err.value)
    assert "closest preset is 'tiny'" in msg
    assert "missing (1): blocks.0.self_attn.q.weight" in msg
    assert "unexpected (1): blocks.0.self_attn.q_renamed.weight" in msg


def test_wrong_shape_and_wrong_preset_errors(tiny, tmp_path):
    sd = dict(tiny.state_dict())
    sd["head.head.bias"] = torch.zeros(3)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "shape.safetensors"))
    with pytest.raises(CheckpointLayoutError, match=r"mis-shaped \(1\): head.head.bias"):
        load_dit(tmp_path / "shape.safetensors")
    good = save_dit(tiny, tmp_path / "good.safetensors")
    with pytest.raises(CheckpointLayoutError, match="does not match the 'tiny-t2v' layout"):
        load_dit(good, preset="tiny-t2v")


def test_corrupt_file_error(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointLayoutError, match="not a readable safetensors"):
        load_dit(tmp_path / "junk.safetensors")
    with pytest.raises(FileNotFoundError):
        load_dit(tmp_path / "missing.safetensors")


def test_read_shapes_without_loading(tiny, tmp_path):
    """The header-only layout read (meta-device init checks it on every rank) agrees with a full load."""
    path = save_dit(tiny, tmp_path / "tiny.safetensors")
    shapes, meta = read_shapes(path)
    assert shapes == shapes_of(tiny.state_dict()) and CONFIG_METADATA_KEY in meta
    sd = {f"generator.{k}": v for k, v in tiny.state_dict().items()}
    torch.save({"generator": sd}, tmp_path / "ckpt.pt")
    assert read_shapes(tmp_path / "ckpt.pt")[0] == shapes
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointLayoutError, match="not a readable safetensors"):
        read_shapes(tmp_path / "junk.safetensors")
    with pytest.raises(FileNotFoundError):
        read_shapes(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("preset", ["livetalk-1.3b", "omniavatar-14b", "wan2.1-t2v-1.3b", "wan2.1-t2v-14b"])
def test_published_layouts_detected_after_prefix_strip(preset):
    meta = {f"generator.{k}": torch.empty(s, device="meta") for k, s in expected_shapes(get_preset(preset)).items()}
    shapes = {k: tuple(v.shape) for k, v in strip_prefixes(meta).items()}
    assert detect_config(shapes).name == preset


def test_published_layout_with_extra_ema_key_is_rejected():
    shapes = dict(expected_shapes(get_preset("livetalk-1.3b")))
    shapes["ema.decay"] = ()
    with pytest.raises(CheckpointLayoutError, match="closest preset is 'livetalk-1.3b'"):
        detect_config(shapes)
    assert key_hash(shapes) != "2bf9513c7a3e908015f11a800fc9b820"


def test_checkpoint_info_cli(tiny, tmp_path, capsys):
    path = save_dit(tiny, tmp_path / "tiny.safetensors")
    assert cli_main(["checkpoint-info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "185" in out and "7098784" in out


def test_average_checkpoints_is_the_weighted_mean_and_reloads(tiny, tmp_path):
    other = build_dit("tiny", seed=8).eval()
    a = save_dit(tiny, tmp_path / "a.safetensors")
    b = save_dit(other, tmp_path / "b.safetensors")
    assert cli_main(["average-checkpoints", str(a), str(b), "--out", str(tmp_path / "ab.safetensors"),
                     "--weights", "3", "1"]) == 0
    avg = load_dit(tmp_path / "ab.safetensors")
    sa, sb = tiny.state_dict(), other.state_dict()
    for k, v in avg.state_dict().items():
        torch.testing.assert_close(v, 0.75 * sa[k] + 0.25 * sb[k], rtol=0, atol=1e-6)
    assert not torch.equal(_out(avg), _out(tiny))
    # averaging a model with itself gives it back exactly (fp64 accumulation)
    same = load_dit(average_checkpoints([a, a, a], tmp_path / "aaa.safetensors"))
    assert torch.equal(_out(same), _out(tiny))


def test_average_checkpoints_saves_in_the_asked_dtype_with_extra_metadata(tiny, tmp_path):
    other = build_dit("tiny", seed=8).eval()
    a = save_dit(tiny, tmp_path / "a.safetensors")
    b = save_dit(other, tmp_path / "b.safetensors")
    out = tmp_path / "ab16.safetensors"
    assert cli_main(["average-checkpoints", str(a), str(b), "--out", str(out), "--dtype", "float16",
                     "--meta", "source=two seeds", "--meta", "vae=tiny_vae"]) == 0
    sd, meta = read_state_dict(out)
    assert {v.dtype for v in sd.values()} == {torch.float16}
    sa, sb = tiny.state_dict(), other.state_dict()
    for k, v in sd.items():  # the fp64 mean rounded once to fp16
        assert torch.equal(v, ((sa[k].double() + sb[k].double()) / 2).half()), k
    assert meta["source"] == "two seeds" and meta["vae"] == "tiny_vae" and meta["weights"] == "average"
    assert checkpoint_info(out)["preset"] == "tiny" and checkpoint_info(out)["dtypes"] == ["float16"]
    assert CONFIG_METADATA_KEY in meta  # the config travels too
    with pytest.raises(ValueError, match="dtype must be one of"):
        average_checkpoints([a, b], tmp_path / "x.safetensors", dtype=torch.int8)
    for key in ("weights", CONFIG_METADATA_KEY):  # metadata the average writes itself cannot be overridden
        with pytest.raises(ValueError, match="may not set"):
            average_checkpoints([a, b], tmp_path / "x.safetensors", extra_metadata={key: "x"})
    with pytest.raises(ValueError, match="may not set"):
        save_dit(tiny, tmp_path / "x.safetensors", {CONFIG_METADATA_KEY: "{}"})
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        cli_main(["average-checkpoints", str(a), str(b), "--out", str(tmp_path / "x.safetensors"), "--meta", "oops"])
    assert not (tmp_path / "x.safetensors").exists()


def test_average_checkpoints_refuses_mixed_layouts_and_bad_weights(tiny, tmp_path):
    a = save_dit(tiny, tmp_path / "a.safetensors")
    small = build_dit(apply_overrides(get_preset("tiny"), {"num_layers": 4}), seed=1)
    b = save_dit(small, tmp_path / "b.safetensors")
    with pytest.raises(CheckpointLayoutError):
        average_checkpoints([a, b], tmp_path / "x.safetensors")
    theta = build_dit(apply_overrides(get_preset("tiny"), {"rope_theta": 500.0}), seed=1)
    c = save_dit(theta, tmp_path / "c.safetensors")
    with pytest.raises(CheckpointLayoutError, match="different config"):
        average_checkpoints([a, c], tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="one weight"):
        average_checkpoints([a, a], tmp_path / "x.safetensors", weights=[1.0])
    with pytest.raises(ValueError, match="one weight"):
        average_checkpoints([a, a], tmp_path / "x.safetensors", weights=[1.0, -1.0])
    assert not (tmp_path / "x.safetensors").exists()


def test_average_checkpoints_carries_the_cond_mark_and_refuses_mixed_conds(tiny, tmp_path):
    from livetalk.models.checkpoint import COND_METADATA_KEY, average_checkpoints, read_shapes

    still = [save_dit(tiny, tmp_path / f"s{i}.safetensors", {COND_METADATA_KEY: "still-video"}) for i in range(2)]
    plain = save_dit(tiny, tmp_path / "plain.safetensors")
    out = average_checkpoints(still, tmp_path / "avg.safetensors")
    assert read_shapes(out)[1][COND_METADATA_KEY] == "still-video"  # else the runtime would run it on the other cond
    assert COND_METADATA_KEY not in read_shapes(average_checkpoints([plain], tmp_path / "p.safetensors"))[1]
    with pytest.raises(ValueError, match="different conds"):
        average_checkpoints([still[0], plain], tmp_path / "mixed.safetensors")


def test_latent_space_mark_is_carried_checked_and_refused_when_mixed(tiny, tmp_path):
    """Session 38: a DiT marked with its VAE's latent space (`LATENT_SPACE_METADATA_KEY`) refuses another space;
    unmarked files and unknown spaces pass (published checkpoints carry no mark); averages carry the mark."""
    from livetalk.models.checkpoint import (LATENT_SPACE_METADATA_KEY, average_checkpoints, check_latent_space,
                                            read_shapes, trained_latent_space)

    a = save_dit(tiny, tmp_path / "a.safetensors", {LATENT_SPACE_METADATA_KEY: "aaaa"})
    b = save_dit(tiny, tmp_path / "b.safetensors", {LATENT_SPACE_METADATA_KEY: "bbbb"})
    plain = save_dit(tiny, tmp_path / "plain.safetensors")
    assert trained_latent_space(a) == "aaaa" and trained_latent_space(plain) is None
    check_latent_space(a, "aaaa", "the VAE")
    check_latent_space(a, None, "the VAE")
    check_latent_space(plain, "bbbb", "the VAE")
    with pytest.raises(ValueError, match="space aaaa, but the VAE x.safetensors is space bbbb"):
        check_latent_space(a, "bbbb", "the VAE x.safetensors")
    avg = average_checkpoints([a, a], tmp_path / "avg.safetensors")
    assert read_shapes(avg)[1][LATENT_SPACE_METADATA_KEY] == "aaaa"
    with pytest.raises(ValueError, match="latent spaces"):
        average_checkpoints([a, b], tmp_path / "mixed.safetensors")
