"""Trainer: deterministic resume after a kill, all three stages end to end, 2-process data parallel (gloo)."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from livetalk.distill.config import load_train_config
from livetalk.distill.trainer import train

COMMON = ["preset=micro", "frames=6", "latent_size=4", "random_clips=6", "batch_size=2", "log_every=1"]


def _cfg(stage, out, *extra):
    return load_train_config(None, COMMON + [f"out_dir={out}", *extra], stage=stage)


def _cli(stage, out, *extra, env=None, nproc=1):
    args = ["train", stage, "--no-progress", "--set", *COMMON, f"out_dir={out}", *extra]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "livetalk.cli", *args]
    else:
        cmd = [sys.executable, "-m", "livetalk.cli", *args]
    return subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}, capture_output=True,
                          text=True, timeout=300)


def test_kill_and_resume_equals_uninterrupted(tmp_path):
    opts = ["steps=6", "save_every=2", "lr=1e-3", "audio_lr_scale=3", "audio_standardise=true"]
    ref = _cli("teacher", tmp_path / "ref", *opts)  # same threads as the resumed run
    assert ref.returncode == 0, ref.stderr[-2000:]
    killed = _cli("teacher", tmp_path / "run", *opts, env={"LIVETALK_CRASH_AT_STEP": "5"})
    assert killed.returncode == 17, killed.stderr[-2000:]
    assert (tmp_path / "run" / "last.pt").exists() and not (tmp_path / "run" / "teacher.safetensors").exists()
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 4
    resumed = _cli("teacher", tmp_path / "run", *opts)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from step 4" in resumed.stdout
    a = load_file(str(tmp_path / "ref" / "teacher.safetensors"))
    b = load_file(str(tmp_path / "run" / "teacher.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_trains_with_the_configured_learning_rate(tmp_path, capsys):
    """Resuming with another lr uses it (not the checkpoint's, which Optimizer.load_state_dict restores), says so,
    and keeps the Adam moments: the resumed steps equal a run that switches lr at the same step by hand."""
    from livetalk.distill.stages import STAGES
    from livetalk.distill.trainer import load_checkpoint, step_generator

    opts = ["save_every=2", "audio_lr_scale=3"]
    for d in ("run", "ref"):
        train(_cfg("teacher", tmp_path / d, "steps=2", "lr=1e-3", *opts), progress=False)
    train(_cfg("teacher", tmp_path / "run", "steps=4", "lr=2e-4", *opts), progress=False)
    assert "opt: the config's lr 0.001 -> 0.0002 (group 0), lr 0.003 -> " in capsys.readouterr().out
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    (opt,) = state["stage"]["optimizers"].values()
    assert [g["lr"] for g in opt["param_groups"]] == pytest.approx([2e-4, 6e-4])
    assert all(s["step"] == 4 for s in opt["state"].values())  # moments carried on, not restarted

    # by hand: resume at the checkpoint's lr 1e-3, set the groups to 2e-4 / 6e-4, run steps 3 and 4
    cfg = _cfg("teacher", tmp_path / "ref", "steps=4", "lr=1e-3", *opts)
    stage = STAGES["teacher"](cfg)
    assert load_checkpoint(stage, tmp_path / "ref") == 2
    ((_, o),) = stage.optimizers().values()
    for g, lr in zip(o.param_groups, (2e-4, 3 * 2e-4), strict=True):
        g["lr"] = lr
    for step in (2, 3):
        stage.train_step(step, [step_generator(cfg.seed, step, 0)])
    for k, w in stage.state_dict()["models"].items():
        assert all(torch.equal(w[n], state["stage"]["models"][k][n]) for n in w), k


def test_audio_modules_get_their_own_learning_rate():
    from livetalk.distill.stages import param_groups
    from livetalk.models.config import get_preset
    from livetalk.models.dit import WanDiT

    model = WanDiT(get_preset("micro"))
    one = param_groups(model, 1e-3)
    assert len(one) == 1 and len(one[0]["params"]) == len(list(model.parameters()))
    rest, audio = param_groups(model, 1e-3, audio_lr_scale=10)
    assert (rest["lr"], audio["lr"]) == (1e-3, 1e-2)
    expected = {id(p) for n, p in model.named_parameters() if n.startswith(("audio_proj.", "audio_cond_projs."))}
    assert {id(p) for p in audio["params"]} == expected and len(expected) == 2 + 2 + 2 * len(model.cfg.audio_layers)
    assert not expected & {id(p) for p in rest["params"]}
    with pytest.raises(ValueError, match="no audio modules"):
        param_groups(WanDiT(get_preset("tiny-t2v")), 1e-3, audio_lr_scale=10)
    with pytest.raises(ValueError, match="audio_lr_scale"):
        _cfg("teacher", "/tmp/x", "audio_lr_scale=0")


def test_audio_standardise_folds_the_init_and_exports_for_raw_features(tmp_path):
    """A teacher continued with `audio_standardise` and lr 0 exports its init again: the init is folded onto the
    standardised features, trained in those coordinates, and unfolded on export."""
    from livetalk.distill.stages import TeacherStage

    init = train(_cfg("teacher", tmp_path / "a", "steps=2"), progress=False)["exported"][0]
    cfg = _cfg("teacher", tmp_path / "b", "steps=1", "lr=0", f"init={init}", "audio_standardise=true")
    stage = TeacherStage(cfg)
    raw = stage.train_data.audio.flatten(0, 2)
    assert raw.mean(0).abs().max() < 1e-4 and (raw.std(0) - 1).abs().max() < 1e-4  # standardised in place
    out = train(cfg, progress=False)["exported"][0]
    a, b = load_file(str(init)), load_file(str(out))
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    folded = TeacherStage(cfg).model.state_dict()["audio_proj.proj.weight"]
    assert not torch.allclose(folded, a["audio_proj.proj.weight"], atol=1e-3)  # the stage trains folded weights
    with pytest.raises(ValueError, match="teacher stage only"):
        _cfg("ode", tmp_path / "c", "audio_standardise=true")


def test_snapshot_script_writes_the_model_of_last_pt(tmp_path):
    out = train(_cfg("teacher", tmp_path / "t", "steps=2", "save_every=2"), progress=False)["exported"][0]
    script = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "snapshot.py")
    r = subprocess.run([sys.executable, script, str(tmp_path / "t"), str(tmp_path / "snap.safetensors")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "2", r.stderr[-2000:]
    a, b = load_file(str(out)), load_file(str(tmp_path / "snap.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_three_stages_end_to_end(tmp_path):
    t = train(_cfg("teacher", tmp_path / "t", "steps=3", "eval_every=3", "mouth_weight=5"), progress=False)
    assert {"eval_loss", "eval_mouth_loss"} <= set(t["logs"]) and t["logs"]["eval_mouth_loss"] > 0
    teacher = t["exported"][0]
    o = train(_cfg("ode", tmp_path / "o", "steps=2", "eval_every=2", f"teacher={teacher}", "teacher_steps=4",
                   "mouth_weight=5"), progress=False)
    assert (tmp_path / "o" / "ode_pairs.pt").exists() and "converged" in o["logs"]
    d = train(_cfg("dmd", tmp_path / "d", "steps=3", "gen_update_every=2", f"teacher={teacher}",
                   f"init={o['exported'][0]}", "ema_start=0"), progress=False)
    assert {"critic_loss", "gen_loss", "dmd_grad_norm"} <= set(d["logs"])
    assert len(d["exported"]) == 3


@pytest.mark.skipif(not shutil.which("torchrun") and not hasattr(torch.distributed, "run"), reason="no torchrun")
def test_two_process_gloo_data_parallel(tmp_path):
    res = _cli("teacher", tmp_path / "ddp", "steps=2", "save_every=2", nproc=2)
    assert res.returncode == 0, res.stderr[-3000:]
    assert '"world_size": 2' in res.stdout
    # rank 0 exported, and the weights moved
    w = load_file(str(tmp_path / "ddp" / "teacher.safetensors"))
    assert torch.isfinite(torch.cat([v.flatten() for v in w.values()])).all()


def test_log_lines_average_the_steps_since_the_last_line(tmp_path):
    """DMD's generator loss exists on every 5th step only; with log_every=10 it used never to be logged."""
    teacher = train(_cfg("teacher", tmp_path / "t", "steps=1"), progress=False)["exported"][0]
    train(_cfg("dmd", tmp_path / "d", "steps=4", "gen_update_every=2", "log_every=2", f"teacher={teacher}",
               f"init={teacher}"), progress=False)
    lines = [json.loads(line) for line in open(tmp_path / "d" / "log.jsonl")]
    assert [x["step"] for x in lines] == [2, 4]
    assert all("gen_loss" in x and "critic_loss" in x for x in lines)  # generator steps 1 and 3 (0-based 0, 2)


def _long_clips(path: Path) -> Path:
    """A prepared latent file of 4 random micro clips of 12 latent frames (twice COMMON's 6) at `path`."""
    from livetalk.distill.data import LatentClips

    long = LatentClips.random("micro", 4, 12, 4, seed=7)
    torch.save({"latents": long.latents, "ref": long.ref, "audio": long.audio, "context": long.context,
                "neg_context": long.neg_context}, path)
    return path


def test_mix_data_trains_the_teacher_on_two_clip_lengths(tmp_path):
    """`mix_data`: a share `mix_share` of the steps draws its batch from a second file of another clip length; the
    draw depends on the seed and the step only (same on every rank and after a resume), and a run trains on both."""
    from livetalk.distill.stages import TeacherStage

    long = _long_clips(tmp_path / "long.pt")
    cfg = _cfg("teacher", tmp_path / "run", "steps=4", f"mix_data={long}", "mix_share=0.5")
    stage = TeacherStage(cfg)
    frames = [stage.step_data(s).latents.shape[1] for s in range(40)]
    assert set(frames) == {6, 12} and 10 <= frames.count(12) <= 30  # both lengths, about half each
    assert frames == [TeacherStage(cfg).step_data(s).latents.shape[1] for s in range(40)]  # reproducible
    assert Path(train(cfg, progress=False)["exported"][0]).is_file()
    plain = TeacherStage(_cfg("teacher", tmp_path / "plain", "steps=1"))
    assert all(plain.step_data(s) is plain.train_data for s in range(5))
    with pytest.raises(ValueError, match="teacher and dmd stages only"):
        _cfg("ode", tmp_path / "c", f"mix_data={long}")
    with pytest.raises(ValueError, match="mix_share"):
        _cfg("teacher", tmp_path / "d", "mix_share=1.0")


def test_mix_data_rolls_out_both_clip_lengths_in_dmd(tmp_path):
    """DMD with `mix_data`: each step rolls out and scores the clip length its step draws (all micro-batches
    alike), so a teacher trained on both lengths is asked about both; the run trains and exports."""
    from livetalk.distill.stages import DMDStage

    teacher = train(_cfg("teacher", tmp_path / "t", "steps=1"), progress=False)["exported"][0]
    opts = ["steps=6", "gen_update_every=2", f"teacher={teacher}", f"init={teacher}",
            f"mix_data={_long_clips(tmp_path / 'long.pt')}", "mix_share=0.5", "grad_accum=2"]
    stage = DMDStage(_cfg("dmd", tmp_path / "probe", *opts))
    seen = []
    rollout = stage._rollout

    def recording_rollout(batch, g, step, exit_index):
        seen.append((step, batch.num_frames))
        return rollout(batch, g, step, exit_index)

    stage._rollout = recording_rollout
    steps = [s for s in range(12) if stage.step_data(s).latents.shape[1] == 12][:1] + \
        [s for s in range(12) if stage.step_data(s).latents.shape[1] == 6][:1]
    assert len(steps) == 2  # this seed draws both lengths within 12 steps
    for s in steps:
        gens = [torch.Generator().manual_seed(s), torch.Generator().manual_seed(100 + s)]
        logs = stage.train_step(s, gens)
        assert math.isfinite(logs["critic_loss"])
    want = {steps[0]: 12, steps[1]: 6}
    assert seen and all(f == want[s] for s, f in seen)  # critic and generator rollouts, both micro-batches
    assert {f for _, f in seen} == {6, 12}
    out = train(_cfg("dmd", tmp_path / "run", *opts), progress=False)
    assert Path(out["exported"][0]).is_file()
