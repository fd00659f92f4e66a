"""Flow-matching schedule numbers from the published system (spec §6)."""

import torch

from livetalk.diffusion.schedule import FlowMatchSchedule, inference_timesteps, shift_timestep


def test_inference_grid_bf16_rounded():
    s = FlowMatchSchedule(4, 5.0)
    assert torch.allclose(s.timesteps, torch.tensor([1000, 937.5, 2500 / 3, 625], dtype=torch.float64))
    assert inference_timesteps().tolist() == [1000.0, 936.0, 832.0, 624.0]
    assert torch.allclose(s.sigma(torch.tensor([1000.0, 936.0, 832.0, 624.0])),
                          torch.tensor([1.0, 0.9375, 2.5 / 3, 0.625], dtype=torch.float64))


def test_training_grid_nearest_sigma():
    g = FlowMatchSchedule(1000, 5.0)
    sig = g.sigma(torch.tensor([936.0, 832.0, 624.0, 0.0]))
    assert torch.allclose(sig, torch.tensor([0.93593, 0.83222, 0.62375, 0.00498], dtype=torch.float64), atol=1e-5)


def test_per_sample_sigma_lookup():
    g = FlowMatchSchedule(1000, 5.0)
    t = torch.tensor([[1000.0, 624.0], [20.0, 980.0]])
    sig = g.sigma(t)
    assert sig.shape == (2, 2)
    assert sig[0, 0] == 1.0 and abs(sig[1, 0].item() - 0.02) < 5e-3  # per element, not one flattened index


def test_noise_and_velocity_round_trip():
    g = FlowMatchSchedule(1000, 5.0)
    x0, eps = torch.randn(2, 3, 4, 2, 2), torch.randn(2, 3, 4, 2, 2)
    t = torch.tensor([[936.0, 832.0, 624.0], [1000.0, 500.0, 100.0]])
    xt = g.add_noise(x0, eps, t)
    v = g.velocity_target(x0, eps)
    assert torch.allclose(g.x0_from_velocity(xt, v, t), x0, atol=1e-5)
    assert torch.allclose(g.velocity_from_x0(xt, x0, t), v, atol=1e-4)
    # an Euler step to sigma 0 with the exact velocity lands on x0
    assert torch.allclose(g.euler_step(xt, v, t, None), x0, atol=1e-5)


def test_dmd_timestep_shift_and_clamp():
    t = shift_timestep(torch.tensor([0.0, 500.0, 999.0]))
    assert t[0] == 20.0 and t[2] == 980.0
    assert abs(t[1].item() - 1000 * 2.5 / 3.0) < 1e-6
