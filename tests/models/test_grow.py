"""Depth growth keeps the function: a grown DiT predicts exactly what its source predicts, and trains."""

import dataclasses
import subprocess
import sys

import pytest
import torch

from livetalk.models.checkpoint import load_dit, save_dit
from livetalk.models.config import get_preset
from livetalk.models.dit import build_dit
from livetalk.models.grow import grow_depth, grown_config

from .dit_inputs import random_inputs


@pytest.mark.parametrize("factor", [2, 3])
def test_grown_model_computes_the_same_function_in_every_attention_mode(factor):
    src = build_dit("micro", seed=1).eval()
    grown = grow_depth(src, factor, seed=5)
    assert grown.cfg.num_layers == factor * src.cfg.num_layers
    assert len(grown.cfg.audio_layers) > len(src.cfg.audio_layers)  # extra audio layers exist and must add zero
    x, t, ctx, cond, audio = random_inputs(src.cfg, batch=2, frames=6, lat=8)
    with torch.no_grad():
        for kw in ({}, {"causal_block": 3}, {"causal_block": 3, "sink_size": 3, "local_attn_size": 3}):
            assert torch.equal(grown(x, t, ctx, cond, audio, **kw), src(x, t, ctx, cond, audio, **kw)), kw
        # streaming with a KV cache, block by block
        caches = [m.new_cache(2, (8, 8), sink_size=3, local_attn_size=6, max_frames=6) for m in (src, grown)]
        for start in (0, 3):
            sl = slice(start, start + 3)
            a, b = (m(x[:, sl], t[:, sl], ctx, cond[:, sl], audio[:, sl], kv_cache=c, start_frame=start)
                    for m, c in zip((src, grown), caches))
            assert torch.equal(a, b)


def test_grown_model_differs_from_source_only_by_new_identity_blocks():
    src = build_dit("micro", seed=1)
    grown = grow_depth(src, 2)
    sd, gsd = src.state_dict(), grown.state_dict()
    for key, value in sd.items():
        if key.startswith("blocks."):
            j, rest = key.split(".", 2)[1:]
            assert torch.equal(gsd[f"blocks.{2 * int(j)}.{rest}"], value)
        elif not key.startswith("audio_cond_projs."):
            assert torch.equal(gsd[key], value)
    # source audio layer a serves grown layer 2a; the others are zero
    for k, layer in enumerate(grown.cfg.audio_layers):
        w = gsd[f"audio_cond_projs.{k}.weight"]
        if layer % 2 == 0 and layer // 2 in src.cfg.audio_layers:
            assert torch.equal(w, sd[f"audio_cond_projs.{src.cfg.audio_layers.index(layer // 2)}.weight"])
        else:
            assert not w.any()
    assert not gsd["blocks.1.ffn.2.weight"].any() and not gsd["blocks.1.self_attn.o.bias"].any()
    assert gsd["blocks.1.self_attn.q.weight"].any()  # only the output projections are closed


def test_new_blocks_receive_gradient():
    grown = grow_depth(build_dit("micro", seed=1), 2).train()
    x, t, ctx, cond, audio = random_inputs(grown.cfg, batch=1, frames=3, lat=8)
    grown(x, t, ctx, cond, audio).square().mean().backward()
    for name in ("blocks.1.self_attn.o.weight", "blocks.1.cross_attn.o.weight", "blocks.1.ffn.2.weight",
                 "audio_cond_projs.0.weight"):
        assert grown.get_parameter(name).grad.abs().sum() > 0, name


def test_target_config_must_be_the_source_with_more_layers():
    src = build_dit("micro", seed=1)
    with pytest.raises(ValueError, match="not 'micro' with 2x the layers"):
        grow_depth(src, 2, cfg=dataclasses.replace(grown_config(src.cfg, 2), dim=128))
    with pytest.raises(ValueError, match="positive integer"):
        grown_config(src.cfg, 0)
    tiny_deep = get_preset("tiny-deep")
    assert grown_config(get_preset("tiny"), 2, name="tiny-deep") == tiny_deep


def test_cli_grows_a_checkpoint_that_reloads_with_its_config(tmp_path):
    src = build_dit("micro", seed=3).eval()
    path = save_dit(src, tmp_path / "micro.safetensors")
    out = tmp_path / "deep.safetensors"
    subprocess.run([sys.executable, "-m", "livetalk.cli", "grow-depth", str(path), "--out", str(out), "--factor", "2"],
                   check=True, capture_output=True, text=True)
    grown = load_dit(out)  # the config comes from the file's metadata
    assert grown.cfg.num_layers == 8
    x, t, ctx, cond, audio = random_inputs(src.cfg, frames=3)
    with torch.no_grad():
        assert torch.equal(grown(x, t, ctx, cond, audio), src(x, t, ctx, cond, audio))
    wrong = subprocess.run([sys.executable, "-m", "livetalk.cli", "grow-depth", str(path), "--out", str(out),
                            "--preset", "tiny-deep"], capture_output=True, text=True)
    assert wrong.returncode != 0 and "not 'micro' with 2x the layers" in wrong.stderr
