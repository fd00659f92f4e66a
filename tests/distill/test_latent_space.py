"""Latent-space marks (session 38): a latent file records the VAE that encoded it (`prepare_latents`), every stage
trained on it marks its checkpoints with that space, and a stage refuses a teacher / init of another space. The
runtime side is in tests/runtime/test_tiny_latent_space.py."""

import pytest
import torch

from livetalk.distill.config import load_train_config
from livetalk.distill.data import LatentClips
from livetalk.distill.stages import ODEStage
from livetalk.distill.trainer import train
from livetalk.models.checkpoint import LATENT_SPACE_METADATA_KEY, read_shapes


def _file(tmp_path, name, space):
    data = LatentClips.random("micro", 4, 6, 4, seed=0)
    f = tmp_path / name
    torch.save({"latents": data.latents, "ref": data.ref, "audio": data.audio, "context": data.context,
                "neg_context": data.neg_context, **({"vae_space": space} if space else {})}, f)
    return f


def _common(data):
    return ["preset=micro", "batch_size=2", "steps=2", "log_every=1", f"data={data}", "eval_every=0"]


def test_stages_mark_their_checkpoints_with_the_data_space_and_refuse_another(tmp_path):
    a, b, plain = _file(tmp_path, "a.pt", "aaaa"), _file(tmp_path, "b.pt", "bbbb"), _file(tmp_path, "p.pt", None)
    assert LatentClips.load(a).vae_space == "aaaa" and LatentClips.load(plain).vae_space is None
    teacher = train(load_train_config(None, _common(a) + [f"out_dir={tmp_path / 't'}"], stage="teacher"),
                    progress=False)["exported"][0]
    assert read_shapes(teacher)[1][LATENT_SPACE_METADATA_KEY] == "aaaa"
    ode_args = ["teacher_steps=4", f"teacher={teacher}"]
    with pytest.raises(ValueError, match="space aaaa, but the data .* are in space bbbb"):
        ODEStage(load_train_config(None, _common(b) + ode_args + [f"out_dir={tmp_path / 'x'}"], recipe="ode"))
    # unmarked data: the stage trusts and inherits its teacher's mark
    ode = train(load_train_config(None, _common(plain) + ode_args + [f"out_dir={tmp_path / 'o'}"], recipe="ode"),
                progress=False)["exported"][0]
    assert read_shapes(ode)[1][LATENT_SPACE_METADATA_KEY] == "aaaa"
    with pytest.raises(ValueError, match="different VAEs"):
        ODEStage(load_train_config(None, _common(a) + ode_args + [f"eval_data={b}", f"out_dir={tmp_path / 'y'}"],
                                   recipe="ode"))
    unmarked = train(load_train_config(None, _common(plain) + [f"out_dir={tmp_path / 'u'}"], stage="teacher"),
                     progress=False)["exported"][0]
    assert LATENT_SPACE_METADATA_KEY not in read_shapes(unmarked)[1]


def test_prepare_latents_records_the_encoding_vae(tmp_path):
    from livetalk.data.clip import ClipConfig
    from livetalk.data.synth import synth_dataset
    from livetalk.distill.prepare import prepare_latents
    from livetalk.models.vae_tiny import load_tiny_vae

    synth_dataset(tmp_path / "world", 1, ClipConfig(duration_s=1.0), start_seed=0)
    prepare_latents(tmp_path / "world", tmp_path / "l.pt", latent_frames=3, windows_per_clip=1, variants=("clean",),
                    progress=False)
    assert LatentClips.load(f"{tmp_path / 'l.pt'}:clean").vae_space == load_tiny_vae().latent_space_id()
