"""sample_latents: the one entry for "latents of a batch from a teacher or a student" used by the evaluation
scripts (tiny_distill generate, sample_sync) is exactly `sample_teacher` / `stream_latents` with the given seed."""

import pytest
import torch

from livetalk.distill.batch import random_batch
from livetalk.distill.sample_eval import sample_latents, stream_latents
from livetalk.distill.teacher import sample_teacher
from livetalk.models.config import get_preset
from livetalk.models.dit import build_dit

MICRO = get_preset("micro")


def test_teacher_and_student_paths_and_bad_role():
    b = random_batch(MICRO, batch=2, frames=6, lat=4, seed=1)
    model = build_dit(MICRO, seed=0).eval()
    with torch.no_grad():
        want, _ = sample_teacher(model, b, steps=4, text_scale=2.0, audio_scale=2.0,
                                 generator=torch.Generator().manual_seed(7))
    got = sample_latents(model, b, "teacher", 7, teacher_steps=4, cfg_scale=2.0)
    assert torch.equal(got, want)
    assert not torch.equal(got, sample_latents(model, b, "teacher", 8, teacher_steps=4, cfg_scale=2.0))
    assert torch.equal(sample_latents(model, b, "student", 3), stream_latents(model, b, seed=3))
    with torch.no_grad():
        audio_only, _ = sample_teacher(model, b, steps=4, text_scale=1.0, audio_scale=3.0,
                                       generator=torch.Generator().manual_seed(7))
    got = sample_latents(model, b, "teacher", 7, teacher_steps=4, cfg_scale=1.0, audio_cfg_scale=3.0)
    assert torch.equal(got, audio_only) and not torch.equal(got, want)
    with pytest.raises(ValueError, match="role"):
        sample_latents(model, b, "critic", 0)


def test_student_cache_sizes_and_rebasing_reach_the_stream():
    """`cache` (tiny_distill --cache, session 30's cache variants) reaches `new_cache`: with 3 sinks in a 6-frame
    window and re-basing past position 7, block 1 sits at positions 3-5 as with absolute positions, and every later
    block is moved back to 3-5, so the streams agree on blocks 0-1 and differ after."""
    model = build_dit(MICRO, seed=0).eval()
    assert model.new_cache(1, (4, 4), sink_size=3, local_attn_size=6, rope_max_frames=7).rope_max_frames == 7
    assert model.new_cache(1, (4, 4)).rope_max_frames == MICRO.rope_max_frames
    b = random_batch(MICRO, batch=2, frames=12, lat=4, seed=1)
    rebased = dict(sink_size=3, local_attn_size=6, rope_max_frames=7)
    got = sample_latents(model, b, "student", 3, cache=rebased)
    assert torch.equal(got, stream_latents(model, b, seed=3, **rebased))
    absolute = stream_latents(model, b, seed=3, sink_size=3, local_attn_size=6)
    assert torch.equal(got[:, :6], absolute[:, :6])
    assert not torch.allclose(got[:, 6:], absolute[:, 6:], atol=1e-4)
