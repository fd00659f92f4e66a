"""The three training stages as objects the trainer drives: teacher, ODE regression, DMD.

Each stage owns its models and optimizers and implements `train_step(step, generator) -> logs`,
`evaluate(generator) -> logs`, `state_dict()` / `load_state_dict()` (everything needed to resume) and
`export(out_dir)` (the safetensors checkpoints it produces).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..diffusion.schedule import FlowMatchSchedule
from ..models.checkpoint import load_dit, save_dit
from ..models.dit import WanDiT, build_dit
from .config import TrainConfig
from .data import LatentClips
from .dmd import EMA, critic_loss, dmd_generator_loss, self_forcing_rollout
from .ode import generate_ode_pairs, ode_regression_loss
from .teacher import teacher_loss
from . import parallel

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def _model(cfg: TrainConfig, path: str, trainable: bool) -> WanDiT:
    dtype = DTYPES[cfg.dtype]
    if path:
        model = load_dit(path, preset=cfg.preset, device=cfg.device, dtype=dtype)
    else:
        model = build_dit(cfg.preset, device=cfg.device, dtype=dtype, seed=cfg.seed)
    model.gradient_checkpointing = cfg.grad_checkpointing
    model.train(trainable)
    return model.requires_grad_(trainable)


def _adamw(model: WanDiT, lr: float, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def _clip_and_step(model: WanDiT, opt: torch.optim.Optimizer, clip: float) -> float:
    parallel.average_gradients(model)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(norm)


def _data(cfg: TrainConfig, path: str, seed_offset: int) -> LatentClips:
    if path and path != "random":
        return LatentClips.load(path)
    n = cfg.random_clips if seed_offset == 0 else max(2, cfg.random_clips // 4)
    return LatentClips.random(cfg.preset, n, cfg.frames, cfg.latent_size, cfg.seed + seed_offset)


class Stage:
    name = "stage"

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.schedule = FlowMatchSchedule(1000, cfg.shift)
        self.train_data = _data(cfg, cfg.data, 0)
        self.eval_data = _data(cfg, cfg.eval_data, 1) if (cfg.eval_data or cfg.data == "random") else None
        self.history: list[dict] = []

    def modules(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {
            "models": {k: m.state_dict() for k, m in self.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
            "history": self.history,
        }

    def load_state_dict(self, state: dict) -> None:
        for k, m in self.modules().items():
            m.load_state_dict(state["models"][k])
        for k, o in self.optimizers().items():
            o.load_state_dict(state["optimizers"][k])
        self.history = list(state.get("history", []))

    def batch(self, generator: torch.Generator, data: LatentClips | None = None):
        data = data or self.train_data
        return data.sample(self.cfg.batch_size, generator).to(self.cfg.device, DTYPES[self.cfg.dtype])


class TeacherStage(Stage):
    """Bidirectional flow-matching teacher with condition dropout (for CFG)."""

    name = "teacher"

    def __init__(self, cfg: TrainConfig):
        super().__init__(cfg)
        self.model = _model(cfg, cfg.init, trainable=True)
        self.opt = _adamw(self.model, cfg.lr, cfg)

    def modules(self):
        return {"model": self.model}

    def optimizers(self):
        return {"opt": self.opt}

    def train_step(self, step: int, g: torch.Generator) -> dict:
        loss = teacher_loss(self.model, self.batch(g), self.schedule, shift=self.cfg.shift,
                            p_drop_text=self.cfg.p_drop_text, p_drop_audio=self.cfg.p_drop_audio, generator=g)
        loss.backward()
        return {"loss": loss.item(), "grad_norm": _clip_and_step(self.model, self.opt, self.cfg.grad_clip)}

    @torch.no_grad()
    def evaluate(self, g: torch.Generator) -> dict:
        if self.eval_data is None:
            return {}
        self.model.eval()
        losses = [teacher_loss(self.model, self.batch(g, self.eval_data), self.schedule, shift=self.cfg.shift,
                               p_drop_text=0.0, p_drop_audio=0.0, generator=g).item() for _ in range(4)]
        self.model.train()
        return {"eval_loss": sum(losses) / len(losses)}

    def export(self, out_dir: Path) -> list[Path]:
        return [save_dit(self.model, out_dir / "teacher.safetensors", {"stage": "teacher"})]


class ODEStage(Stage):
    """Causal student regressed on teacher trajectories at the student timesteps."""

    name = "ode"

    def __init__(self, cfg: TrainConfig):
        super().__init__(cfg)
        if not cfg.teacher:
            raise ValueError("the ode stage needs `teacher` (a teacher checkpoint)")
        self.student = _model(cfg, cfg.init or cfg.teacher, trainable=True)
        self.opt = _adamw(self.student, cfg.lr, cfg)
        self.pairs = self._pairs(self.train_data, cfg.ode_pairs or str(Path(cfg.out_dir) / "ode_pairs.pt"))
        self.eval_pairs = None
        if self.eval_data is not None:
            self.eval_pairs = self._pairs(self.eval_data, str(Path(cfg.out_dir) / "ode_pairs_eval.pt"))

    def _pairs(self, data: LatentClips, path: str) -> torch.Tensor:
        """Teacher trajectories `[N, 5, F, 16, h, w]` (fp16), generated once and cached in `path`."""
        p = Path(path)
        if p.is_file():
            pairs = torch.load(p, map_location="cpu", weights_only=True)
            if pairs.shape[0] == len(data):
                return pairs
        teacher = _model(self.cfg, self.cfg.teacher, trainable=False)
        g = torch.Generator().manual_seed(self.cfg.seed + 7)
        out = []
        chunk = 64 if self.cfg.device.startswith("cuda") else 8
        for i in range(0, len(data), chunk):
            idx = list(range(i, min(i + chunk, len(data))))
            traj = generate_ode_pairs(
                teacher, data.batch(idx).to(self.cfg.device, DTYPES[self.cfg.dtype]), steps=self.cfg.teacher_steps,
                shift=self.cfg.shift, text_scale=self.cfg.teacher_text_scale,
                audio_scale=self.cfg.teacher_audio_scale, generator=g,
            )
            out.append(traj.transpose(0, 1).to("cpu", torch.float16))
        pairs = torch.cat(out)
        if parallel.is_main():
            p.parent.mkdir(parents=True, exist_ok=True)
            torch.save(pairs, p.with_suffix(".tmp"))
            p.with_suffix(".tmp").replace(p)
        return pairs

    def modules(self):
        return {"student": self.student}

    def optimizers(self):
        return {"opt": self.opt}

    def _loss(self, data, pairs, g):
        idx = torch.randint(0, len(data), (self.cfg.batch_size,), generator=g)
        batch = data.batch(idx).to(self.cfg.device, DTYPES[self.cfg.dtype])
        traj = pairs[idx].transpose(0, 1).to(self.cfg.device, DTYPES[self.cfg.dtype])
        return ode_regression_loss(self.student, batch, traj, self.schedule, block=self.cfg.block, generator=g)

    def train_step(self, step: int, g: torch.Generator) -> dict:
        loss = self._loss(self.train_data, self.pairs, g)
        loss.backward()
        return {"loss": loss.item(), "grad_norm": _clip_and_step(self.student, self.opt, self.cfg.grad_clip)}

    @torch.no_grad()
    def evaluate(self, g: torch.Generator) -> dict:
        if self.eval_pairs is None:
            return {}
        self.student.eval()
        loss = sum(self._loss(self.eval_data, self.eval_pairs, g).item() for _ in range(4)) / 4
        self.student.train()
        self.history.append({"eval_loss": loss})
        return {"eval_loss": loss, "converged": converged([h["eval_loss"] for h in self.history],
                                                          self.cfg.converge_window, self.cfg.converge_tol)}

    def export(self, out_dir: Path) -> list[Path]:
        return [save_dit(self.student, out_dir / "student_ode.safetensors", {"stage": "ode"})]


def converged(losses: list[float], window: int = 3, tol: float = 0.01) -> bool:
    """The recipe's "converged ODE init": the best held-out loss of the last `window` evaluations improved on
    the best before them by less than `tol` (relative)."""
    if len(losses) <= window:
        return False
    before = min(losses[:-window])
    recent = min(losses[-window:])
    return (before - recent) < tol * abs(before)


class DMDStage(Stage):
    """Self-Forcing rollouts + DMD against the teacher (real score) and a learned critic (fake score)."""

    name = "dmd"

    def __init__(self, cfg: TrainConfig):
        super().__init__(cfg)
        if not (cfg.teacher and cfg.init):
            raise ValueError("the dmd stage needs `teacher` (real score) and `init` (ODE-initialised student)")
        self.student = _model(cfg, cfg.init, trainable=True)
        self.real = _model(cfg, cfg.teacher, trainable=False)
        self.fake = _model(cfg, cfg.critic_init or cfg.teacher, trainable=True)
        self.opt_g = _adamw(self.student, cfg.lr, cfg)
        self.opt_c = _adamw(self.fake, cfg.critic_lr, cfg)
        self.ema = EMA(self.student, cfg.ema_decay, cfg.ema_start)

    def modules(self):
        return {"student": self.student, "fake": self.fake, "ema": self.ema.model}

    def optimizers(self):
        return {"opt_g": self.opt_g, "opt_c": self.opt_c}

    def _exit_index(self, step: int) -> int:
        """Shared by all blocks and all ranks (seeded by the step only)."""
        return int(torch.randint(0, 4, (1,), generator=torch.Generator().manual_seed(self.cfg.seed * 7919 + step)))

    def train_step(self, step: int, g: torch.Generator) -> dict:
        cfg = self.cfg
        batch = self.batch(g)
        logs = {}
        kw = dict(shift=cfg.shift, t_min=cfg.t_min, t_max=cfg.t_max, generator=g)
        # critic: every step, on a rollout without gradients
        with torch.no_grad():
            video = self_forcing_rollout(self.student, batch, self.schedule, exit_index=self._exit_index(step),
                                         block=cfg.block, generator=g)
        loss_c = critic_loss(self.fake, video, batch, self.schedule, critic_mask=cfg.critic_mask, **kw)
        loss_c.backward()
        logs["critic_loss"] = loss_c.item()
        logs["critic_grad_norm"] = _clip_and_step(self.fake, self.opt_c, cfg.grad_clip)
        # generator: every `gen_update_every` steps
        if step % cfg.gen_update_every == 0:
            video = self_forcing_rollout(self.student, batch, self.schedule, exit_index=self._exit_index(step),
                                         block=cfg.block, generator=g)
            loss_g, extra = dmd_generator_loss(video, batch, self.real, self.fake, self.schedule,
                                               guidance=cfg.guidance, audio_guidance=cfg.audio_guidance, **kw)
            loss_g.backward()
            logs.update(extra, gen_loss=loss_g.item(), gen_grad_norm=_clip_and_step(self.student, self.opt_g, cfg.grad_clip))
            self.ema.update(self.student, step)
        if not all(math.isfinite(v) for v in logs.values() if isinstance(v, float)):
            raise FloatingPointError(f"non-finite loss at step {step}: {logs}")
        return logs

    @torch.no_grad()
    def evaluate(self, g: torch.Generator) -> dict:
        return {}

    def export(self, out_dir: Path) -> list[Path]:
        return [
            save_dit(self.ema.model, out_dir / "student.safetensors", {"stage": "dmd", "weights": "ema"}),
            save_dit(self.student, out_dir / "student_raw.safetensors", {"stage": "dmd", "weights": "raw"}),
            save_dit(self.fake, out_dir / "critic.safetensors", {"stage": "dmd-critic"}),
        ]


STAGES = {"teacher": TeacherStage, "ode": ODEStage, "dmd": DMDStage}
