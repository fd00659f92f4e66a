"""The three training stages as objects the trainer drives: teacher, ODE regression, DMD.

Each stage owns its models and optimizers and implements `train_step(step, generators) -> logs` (a generator,
or one per micro-batch: the gradient is their mean, so k micro-batches in one process step exactly like k
data-parallel ranks), `evaluate(generator) -> logs`, `state_dict()` / `load_state_dict()` (everything needed to
resume, in the single-process format under any `parallel.strategy`) and `export(out_dir)` (the safetensors
checkpoints it produces). Under `fsdp` every rank runs all of these: gathering a sharded model is collective;
rank 0 writes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from ..diffusion.schedule import FlowMatchSchedule
from ..models.checkpoint import (COND_METADATA_KEY, LATENT_SPACE_METADATA_KEY, check_layout, check_trained_cond,
                                 load_dit, read_shapes, save_dit, trained_latent_space)
from ..models.config import get_preset
from ..models.dit import WanDiT, build_dit
from .audio_norm import audio_stats, fold_audio_standardisation, fold_audio_state, standardise_audio
from .batch import TrainBatch
from .config import TrainConfig
from .data import LatentClips
from .dmd import EMA, critic_loss, dmd_generator_loss, long_rollout_window, self_forcing_rollout
from .ode import generate_ode_pairs, ode_regression_loss
from .teacher import box_mask, mouth_weights, teacher_error, teacher_loss, weighted_mean
from . import parallel

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def _model(cfg: TrainConfig, path: str, trainable: bool, dtype: torch.dtype | None = None,
           device: str | None = None, transform: Callable[[WanDiT], WanDiT] | None = None,
           preset: str | None = None) -> WanDiT:
    """The checkpoint at `path` (or a random init), as a whole model of `preset` (default `cfg.preset`; the file's
    layout must match it) on `device` (default `cfg.device`), passed through `transform` (e.g. folding the audio
    standardisation into it) unless built on the meta device."""
    dtype, device, preset = dtype or DTYPES[cfg.dtype], device or cfg.device, preset or cfg.preset
    if device == "meta":
        model = build_dit(preset, device="meta", dtype=dtype)
    elif path:
        model = load_dit(path, preset=preset, device=device, dtype=dtype)
    else:
        model = build_dit(preset, device=device, dtype=dtype, seed=cfg.seed)
    if transform is not None and device != "meta":
        model = transform(model)
    model.gradient_checkpointing = cfg.grad_checkpointing
    model.train(trainable)
    return model.requires_grad_(trainable)


def _shared(cfg: TrainConfig, model: WanDiT) -> WanDiT:
    """Rank 0's weights on every rank, sharded under `parallel.strategy=fsdp` (before building optimizers)."""
    return parallel.prepare(model, cfg.parallel.strategy, cfg.parallel.mixed_precision, cfg.device)


def _meta_init(cfg: TrainConfig) -> bool:
    return cfg.parallel.meta_init and cfg.parallel.strategy == "fsdp" and parallel.world_size() > 1


def _shared_model(cfg: TrainConfig, path: str, trainable: bool, dtype: torch.dtype | None = None,
                  transform: Callable[[WanDiT], WanDiT] | None = None, preset: str | None = None) -> WanDiT:
    """`_shared(cfg, _model(...))`; with `parallel.meta_init` under FSDP the model is built on the meta device and
    sharded, and only rank 0 reads the checkpoint (every rank checks its layout from the header first, so a wrong
    file fails on all ranks alike instead of hanging the others in the broadcast)."""
    if not _meta_init(cfg):
        return _shared(cfg, _model(cfg, path, trainable, dtype, transform=transform, preset=preset))
    if path:
        check_layout(get_preset(preset or cfg.preset), read_shapes(path)[0])
    model = _model(cfg, path, trainable, dtype, device="meta", preset=preset)
    return parallel.shard_from_rank0(model, lambda: _model(cfg, path, trainable, dtype, device="cpu",
                                                                      transform=transform, preset=preset),
                                     cfg.parallel.mixed_precision, cfg.device)


# What a teacher / critic of another preset must share with the student: the inputs it is called with.
INTERFACE = ("in_dim", "out_dim", "latent_channels", "patch_size", "text_dim", "text_len", "use_audio", "audio_dim",
             "audio_pack")


def check_score_presets(cfg: TrainConfig) -> None:
    """Raise `ValueError` unless the teacher's and critic's presets take the student's inputs (latents, reference,
    text states, audio windows): they may differ in size only (width, depth, heads)."""
    student = get_preset(cfg.preset)
    for role, name in (("teacher", cfg.teacher_preset_name), ("critic", cfg.critic_preset_name)):
        other = get_preset(name)
        diff = [f"{k} {getattr(other, k)} (student {getattr(student, k)})" for k in INTERFACE
                if getattr(other, k) != getattr(student, k)]
        if diff:
            raise ValueError(f"the {role} preset {name!r} does not take the inputs of the student preset "
                             f"{cfg.preset!r}: " + ", ".join(diff))


AUDIO_MODULES = ("audio_proj.", "audio_cond_projs.")


def param_groups(model: WanDiT, lr: float, audio_lr_scale: float = 1.0) -> list[dict]:
    """AdamW parameter groups: everything at `lr`, the audio modules (`AUDIO_MODULES`) at `lr · audio_lr_scale`.

    One group when the scale is 1 (checkpointed optimizer states keep their old layout)."""
    named = list(model.named_parameters())
    if audio_lr_scale == 1.0:
        return [{"params": [p for _, p in named], "lr": lr}]
    audio = [p for n, p in named if n.startswith(AUDIO_MODULES)]
    rest = [p for n, p in named if not n.startswith(AUDIO_MODULES)]
    if not audio:
        raise ValueError("audio_lr_scale is set but the model has no audio modules")
    return [{"params": rest, "lr": lr}, {"params": audio, "lr": lr * audio_lr_scale}]


def _adamw(model: WanDiT, lr: float, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(param_groups(model, lr, cfg.audio_lr_scale), lr=lr, betas=tuple(cfg.betas),
                             weight_decay=cfg.weight_decay)


def _clip_and_step(model: WanDiT, opt: torch.optim.Optimizer, clip: float) -> float:
    parallel.average_gradients(model)
    norm = parallel.clip_grad_norm(model, clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return norm


def _micro_batches(gens: torch.Generator | list[torch.Generator]) -> list[torch.Generator]:
    """One random stream per micro-batch (a single generator is one micro-batch)."""
    return [gens] if isinstance(gens, torch.Generator) else list(gens)


def _backward_mean(losses: Iterable[torch.Tensor], n: int) -> float:
    """Backward each of `n` micro-batch losses scaled by 1/n as it is produced (pass a generator: one graph
    alive at a time), so the gradient is their mean; returns the mean loss."""
    total = 0.0
    for loss in losses:
        (loss / n).backward()
        total += loss.item() / n
    return total


def _export(model: WanDiT, path: Path, meta: dict[str, str],
            transform: Callable[[dict], dict] | None = None) -> Path:
    state = parallel.model_state(model)  # collective when sharded
    if parallel.is_main():
        save_dit(model, path, meta, state_dict=state if transform is None else transform(state))
    return path


def check_cond(cfg: TrainConfig, *paths: str) -> None:
    """Raise `ValueError` if a checkpoint was trained with the other cond than this run's (`ref_video` set or not):
    a still-cond teacher scored on the published cond, or the reverse, would run on inputs it never saw."""
    for path in paths:
        if path:
            check_trained_cond(path, bool(cfg.ref_video), "`ref_video`")


def _cond_meta(cfg: TrainConfig, meta: dict[str, str], vae_space: str | None = None) -> dict[str, str]:
    """Mark checkpoints trained with the still-reference cond (`ref_video`; `checkpoint.COND_METADATA_KEY`) and with
    the latent space they were trained in (`checkpoint.LATENT_SPACE_METADATA_KEY`, when known)."""
    meta = {**meta, COND_METADATA_KEY: "still-video"} if cfg.ref_video else dict(meta)
    return {**meta, LATENT_SPACE_METADATA_KEY: vae_space} if vae_space else meta


def latent_space_of(cfg: TrainConfig, *data: LatentClips | None) -> str | None:
    """The latent space a stage trains in: its data files' (`prepare_latents` records the encoding VAE), else the
    one its input checkpoints (init, teacher, critic) are marked with. Files of different spaces are a `ValueError`:
    a teacher or init trained on another VAE's latents would be distilled into nonsense without a visible error."""
    spaces = {d.vae_space for d in data if d is not None and d.vae_space}
    if len(spaces) > 1:
        raise ValueError(f"the data files were encoded by different VAEs (latent spaces {sorted(spaces)}): "
                         "prepare them all with the same `prepare-latents --vae`")
    paths = [p for p in (getattr(cfg, k, "") for k in ("init", "teacher", "critic_init")) if p]
    marks = {p: m for p in paths if (m := trained_latent_space(p))}
    data_space = space = spaces.pop() if spaces else None
    for p, m in marks.items():
        if space and m != space:
            src = f"the data ({cfg.data})" if data_space else "the other input checkpoints"
            raise ValueError(f"{p} was trained on the latents of VAE space {m}, but {src} are in space {space}: "
                             "train every stage on latents of one VAE")
        space = space or m
    return space


def _data(cfg: TrainConfig, path: str, seed_offset: int) -> LatentClips:
    if path and path != "random":
        return LatentClips.load(path)
    n = cfg.random_clips if seed_offset == 0 else max(2, cfg.random_clips // 4)
    return LatentClips.random(cfg.preset, n, cfg.frames, cfg.latent_size, cfg.seed + seed_offset)


def _step_generator(seed: int, salt: int, step: int) -> torch.Generator:
    """A draw shared by all ranks and by a resumed run: seeded by the run's seed and the step only (`salt`, a prime,
    keeps the draws of different uses apart)."""
    return torch.Generator().manual_seed(seed * salt + step)


class Stage:
    name = "stage"

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.schedule = FlowMatchSchedule(1000, cfg.shift)
        self.train_data = _data(cfg, cfg.data, 0)
        self.eval_data = _data(cfg, cfg.eval_data, 1) if (cfg.eval_data or cfg.data == "random") else None
        self.mix_data = _data(cfg, cfg.mix_data, 2) if cfg.mix_data else None
        if cfg.ref_video:  # the still-reference cond (session 33): every clip of every file must be covered
            for data in (self.train_data, self.eval_data, self.mix_data):
                if data is not None:
                    data.attach_ref_video(cfg.ref_video)
        self.vae_space = latent_space_of(cfg, self.train_data, self.eval_data, self.mix_data)
        self.history: list[dict] = []

    def meta(self, meta: dict[str, str]) -> dict[str, str]:
        """Metadata of an exported checkpoint: `meta` plus the cond and latent-space marks."""
        return _cond_meta(self.cfg, meta, self.vae_space)

    def modules(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def optimizers(self) -> dict[str, tuple[torch.nn.Module, torch.optim.Optimizer]]:
        """Each optimizer with the model whose parameters it updates."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Whole tensors on rank 0 (collective under fsdp; other ranks get empty entries)."""
        return {
            "models": {k: parallel.model_state(m) for k, m in self.modules().items()},
            "optimizers": {k: parallel.optim_state(m, o) for k, (m, o) in self.optimizers().items()},
            "history": self.history,
        }

    def load_state_dict(self, state: dict) -> None:
        for k, m in self.modules().items():
            parallel.load_model_state(m, state["models"][k])
        for k, (m, o) in self.optimizers().items():
            configured = [{h: g[h] for h in OPTIMIZER_HYPERPARAMETERS if h in g} for g in o.param_groups]
            parallel.load_optim_state(m, o, state["optimizers"][k])
            changed = keep_configured_hyperparameters(o, configured)
            if changed and parallel.is_main():
                print(f"[train {self.cfg.stage}] {k}: the config's {', '.join(changed)} replace the checkpoint's",
                      flush=True)
        self.history = list(state.get("history", []))

    def step_data(self, step: int) -> LatentClips:
        """This step's training file: `mix_data` on a share `mix_share` of the steps (seeded by the seed and the step
        only, so every rank and a resumed run draw the same), else `data`."""
        if self.mix_data is None:
            return self.train_data
        g = _step_generator(self.cfg.seed, 15485863, step)
        return self.mix_data if float(torch.rand((), generator=g)) < self.cfg.mix_share else self.train_data

    def batch(self, generator: torch.Generator, data: LatentClips | None = None):
        data = data or self.train_data
        return data.sample(self.cfg.batch_size, generator).to(self.cfg.device, DTYPES[self.cfg.dtype])


OPTIMIZER_HYPERPARAMETERS = ("lr", "betas", "weight_decay", "eps")


def keep_configured_hyperparameters(opt: torch.optim.Optimizer, configured: list[dict]) -> list[str]:
    """Put the config's hyperparameters back into `opt`'s groups after `load_state_dict`, which restores the saved
    ones: a run resumed with another `lr` (say) must train with it, not silently with the checkpoint's, and its
    config.json must say what it ran with. `configured` holds each group's values from before the load; returns
    "name old -> new" for every value that differed (the Adam moments and step counts are kept either way)."""
    changed = []
    for i, (group, want) in enumerate(zip(opt.param_groups, configured, strict=True)):
        for name, value in want.items():
            old = group.get(name)
            same = tuple(old) == tuple(value) if isinstance(value, (tuple, list)) else old == value
            if not same:
                changed.append(f"{name} {old} -> {value}" + (f" (group {i})" if len(configured) > 1 else ""))
            group[name] = value
    return changed


def _mouth(cfg: TrainConfig, latents: torch.Tensor) -> torch.Tensor | None:
    """The config's latent-grid loss weights for `latents` `[B, F, C, h, w]` (None without mouth weighting)."""
    return mouth_weights(latents.shape[-2:], cfg.mouth_box, cfg.mouth_weight, latents.device)


class TeacherStage(Stage):
    """Bidirectional flow-matching teacher with condition dropout (for CFG)."""

    name = "teacher"

    def __init__(self, cfg: TrainConfig):
        super().__init__(cfg)
        self.audio_stats = self._standardise_audio() if cfg.audio_standardise else None
        fold = None
        if self.audio_stats is not None and cfg.init:  # the init was trained on raw features: same function
            fold = lambda m: fold_audio_standardisation(m, *self.audio_stats)  # noqa: E731
        self.model = _shared_model(cfg, cfg.init, trainable=True, transform=fold)
        self.opt = _adamw(self.model, cfg.lr, cfg)

    def _standardise_audio(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardise the train and eval audio in place with the training set's per-channel statistics."""
        if self.train_data.audio is None:
            raise ValueError("audio_standardise needs data with audio features")
        stats = audio_stats(self.train_data.audio)
        for data in (self.train_data, self.eval_data, self.mix_data):
            if data is not None:
                data.audio = standardise_audio(data.audio, *stats)
        return stats

    def modules(self):
        return {"model": self.model}

    def optimizers(self):
        return {"opt": (self.model, self.opt)}

    def train_step(self, step: int, gens: torch.Generator | list[torch.Generator]) -> dict:
        gens = _micro_batches(gens)
        cfg = self.cfg
        data = self.step_data(step)

        def micro_batch_loss(g):
            b = self.batch(g, data)
            return teacher_loss(self.model, b, self.schedule, shift=cfg.shift, p_drop_text=cfg.p_drop_text,
                                p_drop_audio=cfg.p_drop_audio, generator=g, weights=_mouth(cfg, b.latents))

        loss = _backward_mean((micro_batch_loss(g) for g in gens), len(gens))
        return {"loss": loss, "grad_norm": _clip_and_step(self.model, self.opt, cfg.grad_clip)}

    @torch.no_grad()
    def evaluate(self, g: torch.Generator) -> dict:
        if self.eval_data is None:
            return {}
        self.model.eval()
        plain, mouth = [], []
        for _ in range(4):  # one forward pass, averaged over the whole frame and over the mouth box
            b = self.batch(g, self.eval_data)
            err = teacher_error(self.model, b, self.schedule, shift=self.cfg.shift, p_drop_text=0.0,
                                p_drop_audio=0.0, generator=g)
            plain.append(weighted_mean(err).item())
            mouth.append(weighted_mean(err, box_mask(err.shape[-2:], self.cfg.mouth_box, err.device)).item())
        self.model.train()
        return {"eval_loss": sum(plain) / len(plain), "eval_mouth_loss": sum(mouth) / len(mouth)}

    def export(self, out_dir: Path) -> list[Path]:
        """`teacher.safetensors`, always for raw audio features (trained standardised: the map is unfolded)."""
        if self.audio_stats is None:
            return [_export(self.model, out_dir / "teacher.safetensors", self.meta({"stage": "teacher"}))]
        pack = get_preset(self.cfg.preset).audio_pack  # (the model may be an FSDP wrapper)
        unfold = lambda st: fold_audio_state(st, *self.audio_stats, pack, inverse=True)  # noqa: E731
        meta = {"stage": "teacher", "audio_standardise": "trained on standardised audio; exported for raw features"}
        return [_export(self.model, out_dir / "teacher.safetensors", self.meta(meta), transform=unfold)]


class ODEStage(Stage):
    """Causal student regressed on teacher trajectories at the student timesteps."""

    name = "ode"

    def __init__(self, cfg: TrainConfig):
        super().__init__(cfg)
        if not cfg.teacher:
            raise ValueError("the ode stage needs `teacher` (a teacher checkpoint)")
        check_score_presets(cfg)
        check_cond(cfg, cfg.teacher, cfg.init)
        if not cfg.init and cfg.teacher_preset_name != cfg.preset:
            raise ValueError(f"the ode stage starts the student from the teacher unless `init` is set, but the teacher "
                             f"is {cfg.teacher_preset_name!r} and the student {cfg.preset!r}: set `init`")
        self.student = _shared_model(cfg, cfg.init or cfg.teacher, trainable=True)
        self.opt = _adamw(self.student, cfg.lr, cfg)
        self.pair_index = _pair_subset(len(self.train_data), cfg.ode_pairs_clips)
        self.provenance = pair_provenance(cfg)  # hashes the teacher file once for both pair files
        self.pairs = self._pairs(self.train_data, self.pair_index,
                                 cfg.ode_pairs or str(Path(cfg.out_dir) / "ode_pairs.pt"))
        self.eval_pairs = None
        if self.eval_data is not None:
            self.eval_index = torch.arange(len(self.eval_data))
            self.eval_pairs = self._pairs(self.eval_data, self.eval_index, str(Path(cfg.out_dir) / "ode_pairs_eval.pt"))

    def _pairs(self, data: LatentClips, index: torch.Tensor, path: str) -> torch.Tensor:
        """Teacher trajectories `[N, 5, F, 16, h, w]` (fp16) of clips `index` `[N]`, generated once and cached in
        `path` with their provenance (`pair_provenance`). A file that exists is checked, never silently replaced:
        its trajectories must end on these clips' reference latents and come from this teacher and sampler
        (`check_pairs`), else a ValueError says what differs. Files of a different training seed, batch or
        learning rate are meant to be reused (the noise seed is recorded, not compared)."""
        p = Path(path)
        if p.is_file():
            pairs, recorded = read_pairs(p)
            check_pairs(p, pairs, recorded, self.provenance, data.ref[index])
            return pairs
        teacher = _model(self.cfg, self.cfg.teacher, trainable=False, preset=self.cfg.teacher_preset_name)
        g = torch.Generator().manual_seed(self.cfg.seed + 7)
        out = []
        chunk = 64 if self.cfg.device.startswith("cuda") else 8
        for i in range(0, len(index), chunk):
            idx = index[i : i + chunk].tolist()
            traj = generate_ode_pairs(
                teacher, data.batch(idx).to(self.cfg.device, DTYPES[self.cfg.dtype]), steps=self.cfg.teacher_steps,
                shift=self.cfg.shift, text_scale=self.cfg.teacher_text_scale,
                audio_scale=self.cfg.teacher_audio_scale, generator=g,
            )
            out.append(traj.transpose(0, 1).to("cpu", torch.float16))
        pairs = torch.cat(out)
        if parallel.is_main():
            p.parent.mkdir(parents=True, exist_ok=True)
            recorded = {**self.provenance, "noise_seed": self.cfg.seed + 7}
            torch.save({"pairs": pairs, "provenance": json.dumps(recorded, sort_keys=True)}, p.with_suffix(".tmp"))
            p.with_suffix(".tmp").replace(p)
        return pairs

    def modules(self):
        return {"student": self.student}

    def optimizers(self):
        return {"opt": (self.student, self.opt)}

    def _loss(self, data, index, pairs, g, weighted: bool = True):
        k = torch.randint(0, len(index), (self.cfg.batch_size,), generator=g)
        batch = data.batch(index[k].tolist()).to(self.cfg.device, DTYPES[self.cfg.dtype])
        traj = pairs[k].transpose(0, 1).to(self.cfg.device, DTYPES[self.cfg.dtype])
        return ode_regression_loss(self.student, batch, traj, self.schedule, block=self.cfg.block, generator=g,
                                   weights=_mouth(self.cfg, batch.latents) if weighted else None)

    def train_step(self, step: int, gens: torch.Generator | list[torch.Generator]) -> dict:
        gens = _micro_batches(gens)
        loss = _backward_mean((self._loss(self.train_data, self.pair_index, self.pairs, g) for g in gens), len(gens))
        return {"loss": loss, "grad_norm": _clip_and_step(self.student, self.opt, self.cfg.grad_clip)}

    @torch.no_grad()
    def evaluate(self, g: torch.Generator) -> dict:
        if self.eval_pairs is None:
            return {}
        self.student.eval()
        loss = sum(self._loss(self.eval_data, self.eval_index, self.eval_pairs, g, weighted=False).item()
                   for _ in range(4)) / 4
        self.student.train()
        self.history.append({"eval_loss": loss})
        return {"eval_loss": loss, "converged": converged([h["eval_loss"] for h in self.history],
                                                          self.cfg.converge_window, self.cfg.converge_tol)}

    def export(self, out_dir: Path) -> list[Path]:
        return [_export(self.student, out_dir / "student_ode.safetensors", self.meta({"stage": "ode"}))]


def _pair_subset(n: int, k: int) -> torch.Tensor:
    """Indices `[min(n, k)]` of the clips that get teacher trajectories: all clips when k is 0, else k clips spread
    evenly over the file (windows of one world clip are adjacent, so this keeps the identities diverse)."""
    if k <= 0 or k >= n:
        return torch.arange(n)
    return torch.linspace(0, n - 1, k).round().long()


def _file_sha256(path: str) -> str:
    """sha256 of a checkpoint file (streamed), or the path itself for anything that is not a file."""
    p = Path(path)
    if not p.is_file():
        return str(path)
    with p.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def pair_provenance(cfg: TrainConfig) -> dict:
    """What makes two ODE pair files interchangeable: the teacher's bytes and the sampler (Euler steps, timestep
    shift, text / audio guidance scales). The clips are checked on the pairs themselves (`check_pairs`)."""
    return {"teacher_sha256": _file_sha256(cfg.teacher), "teacher_steps": cfg.teacher_steps, "shift": cfg.shift,
            "text_scale": cfg.teacher_text_scale, "audio_scale": cfg.teacher_audio_scale}


def read_pairs(path: Path) -> tuple[torch.Tensor, dict | None]:
    """An ODE pair file: the trajectories `[N, 5, F, 16, h, w]` and their recorded provenance, or None for files
    written before provenance was recorded (a bare tensor)."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, torch.Tensor):
        return obj, None
    if not (isinstance(obj, dict) and isinstance(obj.get("pairs"), torch.Tensor)):
        raise ValueError(f"{path} is not an ODE pair file (expected a tensor or a dict with 'pairs')")
    return obj["pairs"], json.loads(obj["provenance"]) if "provenance" in obj else None


def check_pairs(path: Path, pairs: torch.Tensor, recorded: dict | None, expected: dict, refs: torch.Tensor) -> None:
    """Raise ValueError unless the cached `pairs` `[N, 5, F, 16, h, w]` belong to these clips (their clean end
    carries the reference latents `refs` `[N, 16, h, w]` in frame 0: the sampler substitutes it) and, when the file
    records it, to this teacher and sampler."""
    fix = f"delete {path} to regenerate it, or point `ode_pairs` at the file made for this run"
    if pairs.shape[0] != refs.shape[0] or pairs.shape[3:] != refs.shape[1:]:
        raise ValueError(f"{path} holds pairs of shape {tuple(pairs.shape)} but this run needs {refs.shape[0]} "
                         f"clips of latents {tuple(refs.shape[1:])}; {fix}")
    end = pairs[:, -1, 0].float()
    far = ~torch.isclose(end, refs.float(), rtol=2e-3, atol=1e-2).flatten(1).all(1)
    if far.any():
        raise ValueError(f"{path}: {int(far.sum())} of {len(far)} trajectories do not end on this run's clips' "
                         f"reference latents (first: pair {int(far.nonzero()[0])}): they were made for other data or "
                         f"another `ode_pairs_clips`; {fix}")
    if recorded is None:
        print(f"[ode] {path}: no provenance recorded (an older file); its clips match, its teacher and sampler "
              f"settings are not checked", flush=True)
        return
    differ = {k: (recorded.get(k), v) for k, v in expected.items() if recorded.get(k) != v}
    if differ:
        what = ", ".join(f"{k} {a!r} in the file, {b!r} here" for k, (a, b) in differ.items())
        raise ValueError(f"{path} was made by another teacher or sampler ({what}); {fix}")


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
        check_score_presets(cfg)
        check_cond(cfg, cfg.teacher, cfg.init, cfg.critic_init)
        if _meta_init(cfg):  # the EMA is a second fp32 model loaded from the same init, not a copy of a whole one
            self.student = _shared_model(cfg, cfg.init, trainable=True)
            self.ema = EMA(_shared_model(cfg, cfg.init, trainable=False, dtype=torch.float32), cfg.ema_decay,
                           cfg.ema_start, copy=False)
        else:
            student = _model(cfg, cfg.init, trainable=True)
            self.ema = EMA(student, cfg.ema_decay, cfg.ema_start)  # whole fp32 copy, then sharded like the student
            self.student = _shared(cfg, student)
            _shared(cfg, self.ema.model)
        self.real = _shared_model(cfg, cfg.teacher, trainable=False, preset=cfg.teacher_preset_name)
        self.fake = _shared_model(cfg, cfg.critic_init or cfg.teacher, trainable=True, preset=cfg.critic_preset_name)
        self.opt_g = _adamw(self.student, cfg.lr, cfg)
        self.opt_c = _adamw(self.fake, cfg.critic_lr, cfg)

    def modules(self):
        return {"student": self.student, "fake": self.fake, "ema": self.ema.model}

    def optimizers(self):
        return {"opt_g": (self.student, self.opt_g), "opt_c": (self.fake, self.opt_c)}

    def _exit_index(self, step: int) -> int:
        """Shared by all blocks and all ranks (seeded by the step only)."""
        return int(torch.randint(0, 4, (1,), generator=_step_generator(self.cfg.seed, 7919, step)))

    def _window_end(self, step: int, frames: int) -> int:
        """Long rollouts: the last latent frame (exclusive) streamed this step, a multiple of the block: the first
        window's end with probability `rollout_first_p`, else drawn uniformly from [rollout_window, frames]; shared
        by all ranks (seeded by the step only)."""
        b, w = self.cfg.block, self.cfg.rollout_window
        ends = list(range(w, frames - frames % b + 1, b))
        if not ends:
            raise ValueError(f"rollout_window {w} is longer than the training clips ({frames} latent frames)")
        g = _step_generator(self.cfg.seed, 104729, step)
        first = self.cfg.rollout_first_p > 0 and float(torch.rand((), generator=g)) < self.cfg.rollout_first_p
        return w if first else ends[int(torch.randint(0, len(ends), (1,), generator=g))]

    def _rollout(self, batch: TrainBatch, g: torch.Generator, step: int, exit_index: int):
        """(video, the batch it is scored with): the whole clip, or the scored window of a long rollout."""
        cfg = self.cfg
        if cfg.rollout_window <= 0:
            video = self_forcing_rollout(self.student, batch, self.schedule, exit_index=exit_index, block=cfg.block,
                                         generator=g)
            return video, batch
        return long_rollout_window(self.student, batch, self.schedule, window=cfg.rollout_window,
                                   end=self._window_end(step, batch.num_frames), exit_index=exit_index,
                                   block=cfg.block, sink_size=cfg.rollout_sink_size,
                                   local_attn_size=cfg.rollout_local_attn_size, generator=g)

    def train_step(self, step: int, gens: torch.Generator | list[torch.Generator]) -> dict:
        gens = _micro_batches(gens)
        cfg = self.cfg
        n = len(gens)
        data = self.step_data(step)  # one clip length per step (`mix_data`): the micro-batches stack alike
        batches = [self.batch(g, data) for g in gens]
        kw = dict(shift=cfg.shift, t_min=cfg.t_min, t_max=cfg.t_max)
        exit_index = self._exit_index(step)

        def critic_loss_of(batch, g):  # on a rollout without gradients
            with torch.no_grad():
                video, batch = self._rollout(batch, g, step, exit_index)
            return critic_loss(self.fake, video, batch, self.schedule, critic_mask=cfg.critic_mask, generator=g, **kw)

        extras = []

        def generator_loss_of(batch, g):
            video, batch = self._rollout(batch, g, step, exit_index)
            loss, extra = dmd_generator_loss(video, batch, self.real, self.fake, self.schedule, guidance=cfg.guidance,
                                             audio_guidance=cfg.audio_guidance, generator=g, **kw)
            extras.append(extra)
            return loss

        # critic: every step
        logs = {"critic_loss": _backward_mean((critic_loss_of(b, g) for b, g in zip(batches, gens)), n)}
        logs["critic_grad_norm"] = _clip_and_step(self.fake, self.opt_c, cfg.grad_clip)
        # generator: every `gen_update_every` steps
        if step % cfg.gen_update_every == 0:
            logs["gen_loss"] = _backward_mean((generator_loss_of(b, g) for b, g in zip(batches, gens)), n)
            logs.update({k: sum(e[k] for e in extras) / n for k in extras[0]})
            logs["gen_grad_norm"] = _clip_and_step(self.student, self.opt_g, cfg.grad_clip)
            self.ema.update(self.student, step)
        if not all(math.isfinite(v) for v in logs.values() if isinstance(v, float)):
            raise FloatingPointError(f"non-finite loss at step {step}: {logs}")
        return logs

    @torch.no_grad()
    def evaluate(self, g: torch.Generator) -> dict:
        return {}

    def export(self, out_dir: Path) -> list[Path]:
        return [
            _export(self.ema.model, out_dir / "student.safetensors",
                    self.meta({"stage": "dmd", "weights": "ema"})),
            _export(self.student, out_dir / "student_raw.safetensors",
                    self.meta({"stage": "dmd", "weights": "raw"})),
            _export(self.fake, out_dir / "critic.safetensors", self.meta({"stage": "dmd-critic"})),
        ]


STAGES = {"teacher": TeacherStage, "ode": ODEStage, "dmd": DMDStage}
