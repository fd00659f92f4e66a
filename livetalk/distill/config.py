"""Typed training configuration for the three distillation stages, with the DMD recipes.

YAML files hold `{recipe: NAME, key: value, ...}`; `recipe` picks a preset below and the remaining keys
override it; `--set key=value` on the command line overrides both. The nested `parallel` section is written
`parallel: {strategy: fsdp}` or `parallel.strategy: fsdp` in YAML and `parallel.strategy=fsdp` on the command line.

Learning rates: the published recipes (spec §4.3) are for 1.3B models at batch 64 (LiveTalk generator 4e-6,
critic 8e-7; plain Self Forcing half of that). The tiny models train from scratch-sized weights at small
batch, so the tiny recipes scale both by the same factor and keep the published ratios: LiveTalk = 2× plain.

DMD recipes: `dmd-self-forcing` (the baseline: 1× learning rates, CFG 4 = guidance 3), `dmd-livetalk` (the paper's:
2× learning rates, CFG 6 = guidance 5; with curated data and the converged ODE init in its config file) and
`dmd-livetalk-cfg4` (ours: LiveTalk's with CFG 4, the best of the three on the tiny world).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..models.config import apply_overrides


@dataclass(frozen=True)
class ParallelConfig:
    """How ranks share the work under torchrun (ignored in a single process); see `parallel.py`."""

    strategy: str = "allreduce"  # allreduce (whole models, gradients all-reduced) | fsdp (FSDP2 sharding)
    mixed_precision: str = "fp32"  # fsdp on CUDA only: bf16 = bf16 compute / all-gather, fp32 weights and reduce
    meta_init: bool = False  # fsdp only: build on the meta device, rank 0 alone reads checkpoints (14B teachers)

    def __post_init__(self) -> None:
        if self.strategy not in ("allreduce", "fsdp"):
            raise ValueError(f"parallel.strategy must be allreduce or fsdp, got {self.strategy!r}")
        if self.mixed_precision not in ("fp32", "bf16"):
            raise ValueError(f"parallel.mixed_precision must be fp32 or bf16, got {self.mixed_precision!r}")
        if self.meta_init and self.strategy != "fsdp":
            raise ValueError("parallel.meta_init needs parallel.strategy=fsdp (whole models are built on every rank)")
        if self.mixed_precision == "bf16" and self.strategy != "fsdp":
            raise ValueError("parallel.mixed_precision=bf16 needs parallel.strategy=fsdp (or use dtype=bf16)")


@dataclass(frozen=True)
class TrainConfig:
    stage: str = "teacher"  # teacher | ode | dmd
    preset: str = "tiny"  # DiT preset of the trained model (and, by default, of the teacher and critic)
    # ode / dmd: the teacher (real score, ODE-pair teacher) and the critic (fake score) may be other presets than
    # the student, as in the published recipe (real score OmniAvatar-14B, critic OmniAvatar-1.3B: spec §4.1).
    # "" = `preset`; the critic's "" follows the checkpoint it starts from: `teacher_preset` when it is initialised
    # from the teacher (no `critic_init`), else `preset`. Layouts are checked strictly (no silent fallback).
    teacher_preset: str = ""
    critic_preset: str = ""
    device: str = "cpu"
    dtype: str = "fp32"
    seed: int = 42
    out_dir: str = "runs/teacher"
    # data: "random" (shapes only, smoke tests) or a prepared latent file (livetalk train prepare)
    data: str = "random"  # or PATH:VARIANT (clean / raw / curated; condition curation is a data variant)
    eval_data: str = ""
    # teacher and dmd stages: a second latent file of another clip length (PATH:VARIANT, e.g. whole 33-frame clips
    # beside 9-frame windows); a share `mix_share` of the steps draws its batch from it (seeded by the step), so one
    # run trains both lengths (docs/results.md, "A teacher trained on long clips": one after the other forgets). In
    # DMD the student then rolls out both lengths and the real score and critic judge both.
    mix_data: str = ""
    mix_share: float = 0.5
    frames: int = 6  # latent frames per clip (random data)
    latent_size: int = 8  # latent H = W (random data)
    random_clips: int = 16
    # optimisation
    steps: int = 100
    batch_size: int = 2
    lr: float = 1e-4
    critic_lr: float = 2e-5
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    grad_clip: float = 10.0
    # learning-rate multiplier for the audio modules (`audio_proj`, `audio_cond_projs`) in every stage's optimizers
    audio_lr_scale: float = 1.0
    # teacher stage: train on per-channel standardised audio features (training-set statistics; the init is folded
    # to match) and export for raw features (`distill/audio_norm.py`): offset features hide loudness from AudioPack
    audio_standardise: bool = False
    grad_checkpointing: bool = False
    # micro-batches per step and rank, each with its own random stream: k on N ranks reproduce N·k ranks
    grad_accum: int = 1
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    # bookkeeping
    save_every: int = 50
    eval_every: int = 0
    log_every: int = 10
    # initialisation
    init: str = ""  # checkpoint of the trained model (student init for ode/dmd)
    teacher: str = ""  # real score / ODE-pair teacher
    critic_init: str = ""  # fake score init (default: the teacher)
    # the still-reference cond (docs/results.md, session 33; the shipped tiny models use it): still latent files
    # (comma-separated, `scripts/still_baseline.py make` on `data`, `eval_data` and `mix_data`) whose frames 1..
    # replace the repeated reference latent in the cond of every clip (teacher, ODE pairs and student, DMD rollouts
    # and scores; a long rollout's scored window restarts the still, `TrainBatch.window`).
    # Exported checkpoints are marked (`livetalk_cond`); the runtime builds the same cond for marked students.
    ref_video: str = ""
    # region-weighted loss (teacher and ODE stages): 1 + mouth_weight inside mouth_box on the latent grid
    # (top, bottom, left, right as fractions; the synthetic world's mouth: rows 4–5, columns 2–5 of 8)
    mouth_weight: float = 0.0
    mouth_box: tuple[float, float, float, float] = (0.52, 0.75, 0.30, 0.70)
    # teacher (stage 0) and ODE pairs (stage 1)
    p_drop_text: float = 0.1
    p_drop_audio: float = 0.1
    teacher_steps: int = 48
    teacher_text_scale: float = 4.5
    teacher_audio_scale: float = 4.5
    ode_pairs: str = ""  # file of teacher trajectories (generated on first use)
    ode_pairs_clips: int = 0  # teacher trajectories for this many training clips, spread evenly (0 = all clips)
    converge_window: int = 3
    converge_tol: float = 0.01
    # DMD (stage 2)
    guidance: float = 5.0  # cond + g·(cond − uncond): 5 = LiveTalk's CFG 6, 3 = plain Self Forcing's CFG 4
    audio_guidance: float | None = None  # None or = guidance: the standard branch above; different: separate
    # full scales uncond + guidance·(text_only − uncond) + audio_guidance·(cond − text_only) (dmd.real_x0)
    gen_update_every: int = 5  # generator steps when step % N == 0; critic every step
    ema_decay: float = 0.99
    ema_start: int = 200
    shift: float = 5.0
    t_min: float = 20.0
    t_max: float = 980.0
    critic_mask: str = "frame0"
    block: int = 3
    # Self Forcing on long rollouts (ours, not in the paper): 0 = roll out and score the whole clip (published).
    # N > 0: per step the student streams a random number of blocks (N frames up to the clip's length) with the
    # inference cache, and the DMD and critic losses score the last N latent frames (`dmd.long_rollout_window`).
    rollout_window: int = 0
    rollout_first_p: float = 0.0  # share of steps that score the first window (the published case) on top of
    # its 1-in-(ends) uniform draw: keeps the start of the stream, which long windows alone let slip
    rollout_sink_size: int = 9
    rollout_local_attn_size: int = 15
    notes: str = ""

    def __post_init__(self) -> None:
        if self.stage not in ("teacher", "ode", "dmd"):
            raise ValueError(f"stage must be teacher, ode or dmd, got {self.stage!r}")
        if self.mouth_weight < 0:
            raise ValueError(f"mouth_weight must be >= 0, got {self.mouth_weight}")
        top, bottom, left, right = self.mouth_box
        if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
            raise ValueError(f"mouth_box must be (top, bottom, left, right) fractions with top < bottom and "
                             f"left < right, got {self.mouth_box}")
        if self.audio_lr_scale <= 0:
            raise ValueError(f"audio_lr_scale must be > 0, got {self.audio_lr_scale}")
        if self.audio_standardise and self.stage != "teacher":
            raise ValueError("audio_standardise applies to the teacher stage only (ODE and DMD load the teacher as "
                             "exported, for raw audio features)")
        if self.mix_data and self.stage not in ("teacher", "dmd"):
            raise ValueError("mix_data applies to the teacher and dmd stages only")
        if not 0 < self.mix_share < 1:
            raise ValueError(f"mix_share must be in (0, 1), got {self.mix_share}")
        if not 0 <= self.rollout_first_p <= 1:
            raise ValueError(f"rollout_first_p must be in [0, 1], got {self.rollout_first_p}")
        if self.stage == "teacher" and (self.teacher_preset or self.critic_preset):
            raise ValueError("teacher_preset / critic_preset apply to the ode and dmd stages (the teacher stage trains "
                             "`preset`)")
        if self.ref_video and self.data == "random":
            raise ValueError("ref_video needs prepared data (the still video's latents are matched to clips by id)")
        if self.grad_accum < 1:
            raise ValueError(f"grad_accum must be >= 1, got {self.grad_accum}")
        if self.parallel.mixed_precision == "bf16" and (self.dtype != "fp32" or not self.device.startswith("cuda")):
            raise ValueError("parallel.mixed_precision=bf16 needs device=cuda and dtype=fp32 (the master weights)")


    @property
    def teacher_preset_name(self) -> str:
        """The teacher's DiT preset (real score / ODE-pair teacher)."""
        return self.teacher_preset or self.preset

    @property
    def critic_preset_name(self) -> str:
        """The critic's DiT preset: `critic_preset`, else that of the checkpoint it starts from."""
        return self.critic_preset or (self.preset if self.critic_init else self.teacher_preset_name)


# Tiny-scale learning rates keep the published ratios (critic = generator / 5; LiveTalk = 2 × plain).
_TINY_GEN_LR_PLAIN = 2e-5
RECIPES: dict[str, TrainConfig] = {
    "teacher": TrainConfig(stage="teacher", lr=3e-4, steps=2000, batch_size=4, out_dir="runs/teacher"),
    "ode": TrainConfig(stage="ode", lr=1e-4, steps=1000, batch_size=4, out_dir="runs/ode", betas=(0.9, 0.999)),
    "dmd-self-forcing": TrainConfig(
        stage="dmd", lr=_TINY_GEN_LR_PLAIN, critic_lr=_TINY_GEN_LR_PLAIN / 5, betas=(0.0, 0.999), weight_decay=0.01,
        guidance=3.0, steps=500, batch_size=2, out_dir="runs/dmd-self-forcing", ema_start=100,
    ),
    "dmd-livetalk": TrainConfig(
        stage="dmd", lr=2 * _TINY_GEN_LR_PLAIN, critic_lr=2 * _TINY_GEN_LR_PLAIN / 5, betas=(0.0, 0.999),
        weight_decay=0.0, guidance=5.0, steps=500, batch_size=2, out_dir="runs/dmd-livetalk", ema_start=100,
    ),
    # LiveTalk's recipe with plain Self Forcing's CFG 4: on the tiny world (docs/results.md, sessions 9-11) CFG 6
    # was the whole fidelity cost of LiveTalk's recipe and the 2x learning rates its lip-sync gain; at 480 generator
    # updates this split keeps plain's fidelity and beats plain's lip sync on three seeds (+0.028 +- 0.010).
    "dmd-livetalk-cfg4": TrainConfig(
        stage="dmd", lr=2 * _TINY_GEN_LR_PLAIN, critic_lr=2 * _TINY_GEN_LR_PLAIN / 5, betas=(0.0, 0.999),
        weight_decay=0.0, guidance=3.0, steps=500, batch_size=2, out_dir="runs/dmd-livetalk-cfg4", ema_start=100,
    ),
}


def load_train_config(path: str | Path | None = None, overrides: list[str] | None = None, stage: str | None = None,
                      recipe: str | None = None) -> TrainConfig:
    """Config from a recipe / YAML file / `key=value` overrides (in that order)."""
    import yaml

    data = {}
    if path:
        data = yaml.safe_load(Path(path).read_text()) or {}
    recipe = data.pop("recipe", None) or recipe or {"dmd": "dmd-livetalk"}.get(stage or "teacher", stage or "teacher")
    if recipe not in RECIPES:
        raise KeyError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    cfg = RECIPES[recipe]
    if "audio_guidance" in data and data["audio_guidance"] is not None:
        cfg = dataclasses.replace(cfg, audio_guidance=float(data.pop("audio_guidance")))
    cfg = _apply(cfg, data)
    if overrides:
        cfg = _apply(cfg, overrides)
    if stage and cfg.stage != stage:
        raise ValueError(f"config is for stage {cfg.stage!r}, command asked for {stage!r}")
    return cfg


def _apply(cfg: TrainConfig, overrides: dict | list[str]) -> TrainConfig:
    """`apply_overrides`, with `parallel.KEY` entries (and a `parallel: {...}` mapping) going to the section."""
    if isinstance(overrides, list):
        nested = [item.split(".", 1)[1] for item in overrides if item.startswith("parallel.")]
        flat = [item for item in overrides if not item.startswith("parallel.")]
    else:
        flat = dict(overrides)
        nested = dict(flat.pop("parallel", None) or {})
        nested.update({k.split(".", 1)[1]: flat.pop(k) for k in list(flat) if k.startswith("parallel.")})
    cfg = apply_overrides(cfg, flat)
    return dataclasses.replace(cfg, parallel=apply_overrides(cfg.parallel, nested)) if nested else cfg


__all__ = ["TrainConfig", "ParallelConfig", "RECIPES", "load_train_config"]
