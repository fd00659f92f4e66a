"""The still-reference cond (`ref_video`, session 33): frames 1.. of the cond's reference slot carry the reference
image encoded as a still video; files are matched by clip id and checked; the stages train on it, mark their
checkpoints, and refuse checkpoints of the other cond (the runtime side: tests/runtime/test_avatar.py)."""

import pytest
import torch

from livetalk.distill.batch import make_cond, random_batch
from livetalk.distill.config import load_train_config
from livetalk.distill.data import LatentClips
from livetalk.distill.sample_eval import sample_latents
from livetalk.distill.stages import DMDStage, ODEStage
from livetalk.distill.teacher import teacher_loss
from livetalk.distill.trainer import train
from livetalk.diffusion.schedule import FlowMatchSchedule
from livetalk.models.config import get_preset
from livetalk.models.dit import build_dit


def test_make_cond_puts_the_still_video_on_frames_after_the_first():
    ref = torch.randn(2, 16, 4, 4)
    video = torch.randn(2, 7, 16, 4, 4)
    cond = make_cond(ref, 6, video)
    assert cond.shape == (2, 6, 17, 4, 4)
    assert torch.equal(cond[:, 0, :16], ref) and torch.equal(cond[:, 1:, :16], video[:, 1:6])
    assert torch.equal(cond[:, :, 16], make_cond(ref, 6)[:, :, 16])  # the mask is unchanged
    assert torch.equal(make_cond(ref, 6)[:, 3, :16], ref)  # without it: the published repeated latent
    with pytest.raises(ValueError, match="ref_video must be"):
        make_cond(ref, 6, video[:, :5])


def _clips(tmp_path, n=4, frames=6):
    data = LatentClips.random("micro", n, frames, 4, seed=0)
    data.ids = [f"{i}#0" for i in range(n)]
    still = torch.randn(n, frames, 16, 4, 4)
    still[:, 0] = data.ref
    path = tmp_path / "still.pt"
    torch.save({"latents": still.half(), "ids": data.ids}, path)
    return data, still, path


def test_attach_matches_by_id_and_refuses_missing_or_foreign_clips(tmp_path):
    data, still, path = _clips(tmp_path)
    half = tmp_path / "half.pt"
    torch.save({"latents": still[2:].half(), "ids": data.ids[2:]}, half)
    torch.save({"latents": still[:2].half(), "ids": data.ids[:2]}, tmp_path / "first.pt")
    merged = _renamed(data).attach_ref_video(f"{tmp_path / 'first.pt'},{half}")  # two files merged by id
    assert torch.allclose(merged.batch([3]).ref_video, still[3:4].half().float())
    with pytest.raises(KeyError, match="2 of 4 clips are in none"):
        _renamed(data).attach_ref_video(str(half))
    wrong = still.clone()
    wrong[1, 0] += 1.0
    torch.save({"latents": wrong.half(), "ids": data.ids}, tmp_path / "wrong.pt")
    with pytest.raises(ValueError, match="'1#0' starts 1.0"):
        _renamed(data).attach_ref_video(str(tmp_path / "wrong.pt"))


def _renamed(data):
    fresh = LatentClips.random("micro", len(data), data.latents.shape[1], 4, seed=0)
    fresh.ids = list(data.ids)
    return fresh


def test_the_teacher_sees_the_still_cond_in_loss_and_sampling(tmp_path):
    data, still, path = _clips(tmp_path)
    model = build_dit("micro", seed=0)
    sched = FlowMatchSchedule(1000, 5.0)
    plain = data.batch([0, 1])
    data.attach_ref_video(str(path))
    with_still = data.batch([0, 1])
    losses = [teacher_loss(model, b, sched, shift=5.0, p_drop_text=0.0, p_drop_audio=0.0,
                           generator=torch.Generator().manual_seed(0)) for b in (plain, with_still)]
    assert not torch.equal(losses[0], losses[1])
    for role in ("teacher", "student"):  # the student streams block by block, each block with its cond slice
        a, b = (sample_latents(model, x, role, 0, teacher_steps=2, cfg_scale=1.0) for x in (plain, with_still))
        assert not torch.equal(a, b), role
    first = sample_latents(model, plain, "student", 0)[:, :3]  # the first block sees frame 0 = ref either way,
    assert not torch.equal(first, sample_latents(model, with_still, "student", 0)[:, :3])  # frames 1-2 differ


def test_stages_train_with_ref_video_mark_their_checkpoints_and_refuse_the_other_cond(tmp_path):
    from livetalk.models.checkpoint import COND_METADATA_KEY, read_shapes

    data, still, path = _clips(tmp_path)
    file = tmp_path / "data.pt"
    torch.save({"latents": data.latents, "ref": data.ref, "audio": data.audio, "context": data.context,
                "neg_context": data.neg_context, "ids": data.ids}, file)
    common = ["preset=micro", "batch_size=2", "steps=2", "log_every=1", f"data={file}", f"eval_data={file}",
              "eval_every=2", f"ref_video={path}"]
    out = train(load_train_config(None, common + [f"out_dir={tmp_path / 't'}"], stage="teacher"), progress=False)
    assert "eval_loss" in out["logs"]
    teacher = out["exported"][0]
    ode = train(load_train_config(None, common + [f"out_dir={tmp_path / 'o'}", f"teacher={teacher}",
                                                  "teacher_steps=4"], recipe="ode"), progress=False)["exported"][0]
    for f in (teacher, ode):
        assert read_shapes(f)[1][COND_METADATA_KEY] == "still-video"
    no_still = [c for c in common if not c.startswith("ref_video")]
    with pytest.raises(ValueError, match="trained with the still-reference cond; set `ref_video`"):
        ODEStage(load_train_config(None, no_still + [f"out_dir={tmp_path / 'x'}", f"teacher={teacher}",
                                                     "teacher_steps=4"], recipe="ode"))
    with pytest.raises(ValueError, match="trained with the still-reference cond; set `ref_video`"):
        DMDStage(load_train_config(None, no_still + [f"out_dir={tmp_path / 'y'}", f"teacher={teacher}",
                                                     f"init={ode}"], stage="dmd"))
    with pytest.raises(ValueError, match="ref_video needs prepared data"):
        load_train_config(None, ["preset=micro", f"ref_video={path}"], recipe="teacher")
    plain = train(load_train_config(None, common[:-1] + [f"out_dir={tmp_path / 'p'}"], stage="teacher"),
                  progress=False)["exported"][0]
    assert COND_METADATA_KEY not in read_shapes(plain)[1]
    assert get_preset("micro").has_cond and random_batch(get_preset("micro")).ref_video is None


def test_mix_data_and_long_rollouts_take_the_still_cond(tmp_path):
    """`mix_data` clips get their still latents too (a file missing them is an error naming it), and DMD on long
    rollouts (`rollout_window`) trains with the still cond and marks its export."""
    from livetalk.models.checkpoint import COND_METADATA_KEY, read_shapes

    files = {}
    for name, frames in (("short", 6), ("long", 12)):
        (tmp_path / name).mkdir()
        data, still, path = _clips(tmp_path / name, frames=frames)
        data.ids = [f"{name}{i}" for i in range(len(data))]
        torch.save({"latents": still.half(), "ids": data.ids}, path)
        file = tmp_path / f"{name}.pt"
        torch.save({"latents": data.latents, "ref": data.ref, "audio": data.audio, "context": data.context,
                    "neg_context": data.neg_context, "ids": data.ids}, file)
        files[name] = (file, path)
    stills = f"ref_video={files['short'][1]},{files['long'][1]}"
    common = ["preset=micro", "batch_size=2", "log_every=1", f"data={files['short'][0]}",
              f"mix_data={files['long'][0]}", "mix_share=0.5"]
    with pytest.raises(KeyError, match="clips are in none"):  # the mix file's stills are missing
        train(load_train_config(None, common + ["steps=1", f"ref_video={files['short'][1]}",
                                                f"out_dir={tmp_path / 'x'}"], stage="teacher"), progress=False)
    teacher = train(load_train_config(None, common + ["steps=4", stills, f"out_dir={tmp_path / 't'}"],
                                      stage="teacher"), progress=False)["exported"][0]
    dmd = load_train_config(None, ["preset=micro", "batch_size=2", "log_every=1", f"data={files['long'][0]}",
                                   stills, f"teacher={teacher}", f"init={teacher}", "steps=3", "gen_update_every=2",
                                   "ema_start=0", "rollout_window=6", "rollout_sink_size=3",
                                   "rollout_local_attn_size=9", f"out_dir={tmp_path / 'd'}"], stage="dmd")
    assert DMDStage(dmd).train_data.ref_video.shape[1] == 12
    out = train(dmd, progress=False)
    assert {"critic_loss", "gen_loss"} <= set(out["logs"])
    assert read_shapes(out["exported"][0])[1][COND_METADATA_KEY] == "still-video"
