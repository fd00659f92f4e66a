"""The training loop shared by the stages: seeds, progress, periodic evaluation, atomic checkpoints,
resume after a kill, and data parallelism under torchrun.

Every random draw of step `s` comes from a generator seeded with (seed, s, rank), so a run resumed from its
last checkpoint reproduces exactly the steps an uninterrupted run would have taken. With `grad_accum = k`
rank r runs the micro-batches of virtual ranks r·k … r·k + k − 1: N processes × k reproduce N·k processes × 1.
Under `parallel.strategy=fsdp` checkpointing and export gather the shards (every rank takes part); rank 0
writes the same single-process files as ever.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import torch

from . import parallel
from .config import TrainConfig
from .stages import STAGES, Stage

CHECKPOINT = "last.pt"


def step_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 101 + rank)


def save_checkpoint(stage: Stage, out_dir: Path, step: int, cfg: TrainConfig) -> Path:
    """Atomic: written by rank 0 to a temp file, then renamed over `last.pt`. Every rank must call it."""
    path = out_dir / CHECKPOINT
    state = stage.state_dict()  # collective under fsdp
    if parallel.is_main():
        tmp = out_dir / (CHECKPOINT + ".tmp")
        torch.save({"step": step, "config": dataclasses.asdict(cfg), "stage": state}, tmp)
        os.replace(tmp, path)
    return path


def load_checkpoint(stage: Stage, out_dir: Path) -> int:
    """Restore the last checkpoint if present; returns the step to continue from (0 when none)."""
    path = out_dir / CHECKPOINT
    if not path.is_file():
        return 0
    state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)  # pages shared by the ranks
    stage.load_state_dict(state["stage"])
    return int(state["step"])


def train(cfg: TrainConfig, progress: bool = True, crash_at_step: int | None = None) -> dict:
    """Run (or resume) a stage to `cfg.steps`; returns the final logs and exported paths.

    `crash_at_step` (tests, or env LIVETALK_CRASH_AT_STEP) kills the process abruptly after that step.
    """
    crash_at_step = crash_at_step or int(os.environ.get("LIVETALK_CRASH_AT_STEP", "0")) or None
    rank, world = parallel.init_from_env(cfg.device)
    torch.manual_seed(cfg.seed)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = STAGES[cfg.stage](cfg)  # models broadcast from rank 0 (and sharded under fsdp) by the stage
    start = load_checkpoint(stage, out_dir)
    if parallel.is_main():
        (out_dir / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
        if start:
            print(f"[train {cfg.stage}] resuming from step {start} ({out_dir / CHECKPOINT})", flush=True)
    log_path = out_dir / "log.jsonl"
    bar = None
    if progress and parallel.is_main():
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc=f"train {cfg.stage}", dynamic_ncols=True)
    logs: dict = {}
    window: dict[str, list[float]] = {}  # every step's numbers since the last log line
    t0 = time.perf_counter()
    accum = cfg.grad_accum
    for step in range(start, cfg.steps):
        logs = stage.train_step(step, [step_generator(cfg.seed, step, rank * accum + i) for i in range(accum)])
        done = step + 1
        if cfg.eval_every and done % cfg.eval_every == 0:
            logs.update(stage.evaluate(step_generator(cfg.seed + 1, 0)))
        if parallel.is_main():
            for k, v in logs.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    window.setdefault(k, []).append(float(v))
            if done % max(cfg.log_every, 1) == 0 or done == cfg.steps or "eval_loss" in logs:
                # means over the steps since the last line, so numbers logged only on some steps (DMD's generator
                # loss, every `gen_update_every` steps) are never skipped; other values as of this step
                line = {**logs, **{k: sum(v) / len(v) for k, v in window.items()}}
                window = {}
                with log_path.open("a") as f:
                    f.write(json.dumps({"step": done, "time_s": round(time.perf_counter() - t0, 2), **line}) + "\n")
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if isinstance(v, float)})
        if cfg.save_every and done % cfg.save_every == 0:
            save_checkpoint(stage, out_dir, done, cfg)
        if crash_at_step is not None and done == crash_at_step:
            os._exit(17)  # simulate a kill: no cleanup, no final save
    if bar is not None:
        bar.close()
    save_checkpoint(stage, out_dir, cfg.steps, cfg)
    paths = stage.export(out_dir)  # every rank: gathering sharded models is collective
    exported = [str(p) for p in paths] if parallel.is_main() else []
    parallel.barrier()
    return {"logs": logs, "exported": exported, "rank": rank, "world_size": world}
