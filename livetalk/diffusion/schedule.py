"""Flow-matching schedule of Wan / LiveTalk (spec §6).

Conventions: timesteps `t` live in [0, 1000] and σ = t / 1000 ∈ [0, 1]; the noisy sample is
`x_t = (1 − σ)·x0 + σ·ε` and the network predicts the velocity `v = ε − x0`.

* `shifted_sigmas(N, shift)`: `s = linspace(1, 0, N + 1)[:-1]`, `σ = shift·s / (1 + (shift − 1)·s)`.
* Training grid: N = 1000, shift 5 (σ looked up by nearest t: t = 0 maps to σ ≈ 0.00498, pitfall 17).
* Inference grid: N = 4, shift 5 → t = [1000, 937.5, 833.33, 625], fed to the model bf16-rounded as
  [1000, 936, 832, 624] (pitfall 1); σ for the x0 conversion is the nearest entry of the 4-step table.
* x0 ↔ velocity conversions are done in float64 and cast back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

NUM_TRAIN_TIMESTEPS = 1000


def shifted_sigmas(num_steps: int, shift: float = 5.0, sigma_max: float = 1.0, sigma_min: float = 0.0) -> torch.Tensor:
    """`[num_steps]` float64 sigmas, highest first, with the `extra_one_step` convention (σ = 0 excluded)."""
    s = torch.linspace(sigma_max, sigma_min, num_steps + 1, dtype=torch.float64)[:-1]
    return shift * s / (1 + (shift - 1) * s)


def bf16_round(t: torch.Tensor) -> torch.Tensor:
    """Round timesteps through bfloat16, as the published pipeline does before calling the DiT."""
    return t.to(torch.bfloat16).to(torch.float32)


@dataclass
class FlowMatchSchedule:
    """A timestep grid with nearest-t σ lookup.

    `sigmas` and `timesteps` are float64 `[N]`, highest noise first.
    """

    num_steps: int = NUM_TRAIN_TIMESTEPS
    shift: float = 5.0
    sigmas: torch.Tensor = field(init=False)
    timesteps: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.sigmas = shifted_sigmas(self.num_steps, self.shift)
        self.timesteps = self.sigmas * NUM_TRAIN_TIMESTEPS

    # --------------------------------------------------------------------------------- lookups
    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """σ of the grid entry nearest to each timestep; same shape as `t`, float64 (per-element argmin)."""
        t64 = torch.as_tensor(t, dtype=torch.float64)
        grid = self.timesteps.to(t64.device)
        idx = (t64.reshape(-1, 1) - grid.reshape(1, -1)).abs().argmin(dim=1)
        return self.sigmas.to(t64.device)[idx].reshape(t64.shape)

    def model_timesteps(self) -> torch.Tensor:
        """The grid's timesteps as the DiT sees them (bf16-rounded), float32 `[N]`."""
        return bf16_round(self.timesteps.to(torch.float32))

    # -------------------------------------------------------------------------------- conversions
    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """`x_t = (1 − σ)·x0 + σ·ε` with σ per sample `[B]` or per frame `[B, F]` (x0: `[B, F, C, H, W]`)."""
        s = _expand(self.sigma(t), x0)
        return ((1 - s) * x0.double() + s * noise.double()).to(x0.dtype)

    def x0_from_velocity(self, x_t: torch.Tensor, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """`x0 = x_t − σ·v` in float64."""
        s = _expand(self.sigma(t), x_t)
        return (x_t.double() - s * v.double()).to(v.dtype)

    def velocity_from_x0(self, x_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """`v = (x_t − x0) / σ` in float64."""
        s = _expand(self.sigma(t), x_t)
        return ((x_t.double() - x0.double()) / s).to(x0.dtype)

    @staticmethod
    def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Flow-matching regression target `ε − x0`."""
        return noise - x0

    def euler_step(self, x: torch.Tensor, v: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor | None) -> torch.Tensor:
        """`x + v·(σ_next − σ)`; `t_next=None` means σ_next = 0 (the last step)."""
        s = _expand(self.sigma(t), x)
        s_next = torch.zeros_like(s) if t_next is None else _expand(self.sigma(t_next), x)
        return (x.double() + v.double() * (s_next - s)).to(x.dtype)


def inference_timesteps(num_steps: int = 4, shift: float = 5.0) -> torch.Tensor:
    """Student timesteps as fed to the model: bf16-rounded, e.g. [1000, 936, 832, 624] for 4 steps."""
    return FlowMatchSchedule(num_steps, shift).model_timesteps()


def shift_timestep(t: torch.Tensor, shift: float = 5.0, t_min: float = 20.0, t_max: float = 980.0) -> torch.Tensor:
    """DMD score-model timestep warp `1000·shift·u / (1 + (shift − 1)·u)`, u = t/1000, clamped to [t_min, t_max]."""
    u = torch.as_tensor(t, dtype=torch.float64) / NUM_TRAIN_TIMESTEPS
    warped = NUM_TRAIN_TIMESTEPS * shift * u / (1 + (shift - 1) * u)
    return warped.clamp(t_min, t_max)


def _expand(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """σ `[B]` or `[B, F]` → broadcastable to `like` `[B, F, C, H, W]`, float64 on like's device."""
    sigma = sigma.to(like.device)
    return sigma.reshape(sigma.shape + (1,) * (like.dim() - sigma.dim()))
