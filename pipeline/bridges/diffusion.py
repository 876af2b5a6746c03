"""DDPM over embedding vectors: noise schedules, the training loss, ancestral sampling.

EmergentBridge's proxy synthesiser is a conditional DDPM: it learns
``p(z_b | z_a)`` from existing (anchor, bound) pairs and samples a plausible
bound-modality embedding for an anchor embedding that has none.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Schedule = Literal["cosine", "linear"]


def beta_schedule(kind: Schedule, steps: int) -> torch.Tensor:
    """Noise variances ``beta_t`` (float64): Nichol & Dhariwal's cosine, or Ho et al.'s linear
    rescaled so that ``steps`` steps cover the same noise range as their 1,000."""
    if kind == "linear":
        scale = 1000.0 / steps
        return torch.linspace(scale * 1e-4, scale * 0.02, steps, dtype=torch.float64)
    s = 0.008
    t = torch.linspace(0, steps, steps + 1, dtype=torch.float64) / steps
    alpha_bar = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)


class DDPM(nn.Module):
    """The fixed forward process and the sampler; holds no trainable weights (buffers are not saved)."""

    def __init__(self, steps: int, schedule: Schedule) -> None:
        super().__init__()
        betas = beta_schedule(schedule, steps)
        alphas = 1 - betas
        alpha_bar = torch.cumprod(alphas, 0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        buffers = {
            "betas": betas,
            "sqrt_alpha_bar": alpha_bar.sqrt(),
            "sqrt_one_minus_alpha_bar": (1 - alpha_bar).sqrt(),
            "inv_sqrt_alpha": alphas.rsqrt(),
            "eps_coef": betas / (1 - alpha_bar).sqrt(),
            "posterior_std": (betas * (1 - alpha_bar_prev) / (1 - alpha_bar)).sqrt(),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value.float(), persistent=False)
        self.steps = steps

    def loss(self, denoiser: nn.Module, x0: torch.Tensor, cond: torch.Tensor,
             gen: torch.Generator) -> torch.Tensor:
        """Simple DDPM objective: MSE between the true and the predicted noise at a random step."""
        t = torch.randint(0, self.steps, (len(x0),), generator=gen, device=x0.device)
        noise = torch.randn(x0.shape, generator=gen, device=x0.device)
        xt = self.sqrt_alpha_bar[t, None] * x0 + self.sqrt_one_minus_alpha_bar[t, None] * noise
        return F.mse_loss(denoiser(xt, cond, t).float(), noise)

    @torch.no_grad()
    def sample(self, denoiser: nn.Module, cond: torch.Tensor, dim: int, gen: torch.Generator) -> torch.Tensor:
        """Ancestral sampling from pure noise, one batch of conditions at once."""
        x = torch.randn((len(cond), dim), generator=gen, device=cond.device)
        for step in reversed(range(self.steps)):
            t = torch.full((len(cond),), step, device=cond.device, dtype=torch.long)
            eps = denoiser(x, cond, t).float()
            x = self.inv_sqrt_alpha[step] * (x - self.eps_coef[step] * eps)
            if step > 0:
                x = x + self.posterior_std[step] * torch.randn(x.shape, generator=gen, device=x.device)
        return x
