"""`parallel.strategy=fsdp` with 2 gloo processes on CPU against one process on the same global batch, and
checkpoints moving between the two.

The reference is one process with `grad_accum=2`: it runs the micro-batches (the random streams) of ranks 0 and
1 and averages their gradients, which is what data parallelism over two ranks must compute. Learning rates are
large, so a rank stepping on its own gradient, or on a wrongly gathered shard, moves weights by ~1e-3 (tolerance
1e-5); the logged gradient norms catch a sum instead of a mean (Adam's first step hides the scale).
"""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from livetalk.distill.config import load_train_config
from livetalk.distill.trainer import train
from livetalk.models.checkpoint import save_dit
from livetalk.models.dit import build_dit

COMMON = ["preset=micro", "frames=6", "latent_size=4", "random_clips=6", "batch_size=2", "log_every=1",
          "lr=1e-3", "critic_lr=1e-3"]
DMD = ["gen_update_every=1", "ema_start=0", "ema_decay=0.5", "grad_checkpointing=true"]
TOL = 1e-5
NORMS = ("grad_norm", "critic_grad_norm", "gen_grad_norm")  # of the averaged parameter gradients, pre-clipping


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The torchrun ranks run with OMP_NUM_THREADS=1; the in-process reference must sum in the same order. With
    another thread count, float noise in near-zero gradients becomes ±lr·0.1 after Adam's first step (g / (|g| + eps))
    and exceeds the tolerance (seen in CI, where pytest runs with 2 threads)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def inits(tmp_path_factory):
    d = tmp_path_factory.mktemp("inits")
    save_dit(build_dit("micro", seed=1), d / "teacher.safetensors")
    save_dit(build_dit("micro", seed=2), d / "init.safetensors")
    return [f"teacher={d / 'teacher.safetensors'}", f"init={d / 'init.safetensors'}"]


def _one_process(stage, out, *extra):
    return train(load_train_config(None, COMMON + [f"out_dir={out}", "grad_accum=2", *extra], stage=stage),
                 progress=False)


def _fsdp(stage, out, *extra):
    args = ["train", stage, "--no-progress", "--set", *COMMON, f"out_dir={out}", "parallel.strategy=fsdp", *extra]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "livetalk.cli",
           *args]
    res = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert '"world_size": 2' in res.stdout
    return res


def _close(a, b, what):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for k in a:
            _close(a[k], b[k], f"{what}.{k}")
    elif isinstance(a, torch.Tensor):
        assert a.shape == b.shape and torch.allclose(a.float(), b.float(), rtol=0, atol=TOL), what
    elif isinstance(a, list) and a and isinstance(a[0], dict):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{what}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=TOL, abs=TOL), what
    elif isinstance(a, (tuple, list)):  # the FSDP optimizer loader turns betas into a list
        assert list(a) == list(b), what
    else:
        assert a == b, what


def _assert_same_run(a, b):
    """Same weights (every model, the EMA included), optimizer states, exports and gradient norms."""
    sa = torch.load(a / "last.pt", weights_only=False)
    sb = torch.load(b / "last.pt", weights_only=False)
    assert sa["step"] == sb["step"]
    _close(sa["stage"]["models"], sb["stage"]["models"], "models")
    _close(sa["stage"]["optimizers"], sb["stage"]["optimizers"], "optimizers")
    for f in b.glob("*.safetensors"):
        _close(load_file(str(a / f.name)), load_file(str(f)), f.name)
    norms = [[{k: v for k, v in json.loads(line).items() if k in NORMS} for line in open(d / "log.jsonl")]
             for d in (a, b)]
    assert norms[0] and all(norms[0])
    _close(norms[0], norms[1], "grad norms")


@pytest.mark.parametrize("stage, extra", [("teacher", ["audio_standardise=true"]),
                                          ("ode", ["teacher_steps=4", "grad_checkpointing=true"])])
def test_fsdp_step_equals_one_process(tmp_path, inits, stage, extra):
    _fsdp(stage, tmp_path / "fsdp", "steps=1", *extra, *inits)
    _one_process(stage, tmp_path / "one", "steps=1", *extra, *inits)
    _assert_same_run(tmp_path / "fsdp", tmp_path / "one")
    init = load_file(inits[1].split("=", 1)[1])
    (trained,) = torch.load(tmp_path / "fsdp" / "last.pt", weights_only=False)["stage"]["models"].values()
    assert max((trained[k] - init[k]).abs().max() for k in init) > 100 * TOL  # the step did move the weights


def test_fsdp_dmd_step_and_checkpoints_across_strategies(tmp_path, inits):
    """Self-Forcing rollout + critic + EMA under FSDP; FSDP's checkpoint resumes in one process and back."""
    args = [*DMD, *inits, "save_every=1", "audio_lr_scale=10"]  # two parameter groups in each optimizer
    _one_process("dmd", tmp_path / "ref", "steps=2", *args)  # uninterrupted reference
    _fsdp("dmd", tmp_path / "a", "steps=1", *args)
    _one_process("dmd", tmp_path / "step1", "steps=1", *args)
    _assert_same_run(tmp_path / "a", tmp_path / "step1")
    _one_process("dmd", tmp_path / "a", "steps=2", *args)  # FSDP step 1 -> one process step 2
    _one_process("dmd", tmp_path / "b", "steps=1", *args)
    res = _fsdp("dmd", tmp_path / "b", "steps=2", *args)  # one process step 1 -> FSDP step 2
    assert "resuming from step 1" in res.stdout
    _assert_same_run(tmp_path / "a", tmp_path / "ref")
    _assert_same_run(tmp_path / "b", tmp_path / "ref")


def test_meta_init_only_rank0_reads_the_checkpoint(tmp_path, inits):
    """Meta-device init: every rank holds only its shard, rank 0 alone reads the file, the weights are the file's."""
    ckpt = inits[0].split("=", 1)[1]
    probe = os.path.join(os.path.dirname(__file__), "meta_init_probe.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", probe, ckpt,
           str(tmp_path)]
    res = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert (r0["reads"], r1["reads"]) == (1, 0)
    assert r0["sharded"] and r1["sharded"] and r0["world"] == 2
    assert r0["local"] + r1["local"] == r0["total"] and r1["local"] < 0.75 * r1["total"]
    assert r0["same"] is True


@pytest.mark.parametrize("stage, extra", [("teacher", ["audio_standardise=true"]), ("dmd", DMD)])
def test_meta_init_step_equals_one_process(tmp_path, inits, stage, extra):
    """The same step as one process (weights, optimizer, EMA, exports) when the models start on the meta device."""
    _fsdp(stage, tmp_path / "meta", "steps=1", "parallel.meta_init=true", *extra, *inits)
    _one_process(stage, tmp_path / "one", "steps=1", *extra, *inits)
    _assert_same_run(tmp_path / "meta", tmp_path / "one")


def test_parallel_config_from_yaml_and_command_line(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("recipe: teacher\nparallel: {strategy: fsdp}\n")
    assert load_train_config(f).parallel.strategy == "fsdp"
    f.write_text("recipe: teacher\nparallel.strategy: fsdp\nsteps: 3\n")
    assert load_train_config(f).parallel.strategy == "fsdp" and load_train_config(f).steps == 3
    cfg = load_train_config(None, ["parallel.strategy=fsdp", "grad_accum=2"], stage="teacher")
    assert (cfg.parallel.strategy, cfg.parallel.mixed_precision, cfg.grad_accum) == ("fsdp", "fp32", 2)
    assert load_train_config(None, [], stage="teacher").parallel.strategy == "allreduce"
    with pytest.raises(ValueError, match="strategy"):
        load_train_config(None, ["parallel.strategy=ddp"], stage="teacher")
    with pytest.raises(ValueError, match="CUDA|cuda"):
        load_train_config(None, ["parallel.strategy=fsdp", "parallel.mixed_precision=bf16"], stage="teacher")
    with pytest.raises(KeyError):
        load_train_config(None, ["parallel.shards=2"], stage="teacher")
    with pytest.raises(ValueError, match="meta_init"):
        load_train_config(None, ["parallel.meta_init=true"], stage="teacher")
    assert load_train_config(None, ["parallel.strategy=fsdp", "parallel.meta_init=true"]).parallel.meta_init


def test_optimizer_state_is_indexed_by_model_order_whatever_the_groups():
    """One process saves Adam state under `model.named_parameters()` indices (as FSDP does), so a run whose
    parameter groups are not in model order still resumes under the other strategy."""
    from livetalk.distill import parallel

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    first, second = list(model[0].parameters()), list(model[1].parameters())
    opt = torch.optim.AdamW([{"params": second, "lr": 1e-2}, {"params": first, "lr": 1e-3}])
    model(torch.randn(5, 3)).square().sum().backward()
    opt.step()
    state = parallel.optim_state(model, opt)
    shapes = [p.shape for p in model.parameters()]
    assert [state["state"][i]["exp_avg"].shape for i in range(4)] == shapes
    assert [g["params"] for g in state["param_groups"]] == [[2, 3], [0, 1]]
    fresh = torch.optim.AdamW([{"params": second, "lr": 1e-2}, {"params": first, "lr": 1e-3}])
    parallel.load_optim_state(model, fresh, state)
    for p in model.parameters():
        assert torch.equal(fresh.state[p]["exp_avg"], opt.state[p]["exp_avg"])


def test_exit_process_flushes_and_keeps_the_exit_code():
    """`exit_process` skips interpreter finalization (os._exit) but must not lose buffered output on a pipe."""
    code = ("import sys; from livetalk.distill.parallel import exit_process; "
            "print('result line'); sys.stderr.write('err line'); exit_process(3); print('never')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 3
    assert res.stdout == "result line\n" and res.stderr.endswith("err line")
