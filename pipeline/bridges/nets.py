"""The small networks the bridges train: MLP heads/projectors and a diffusion denoiser."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Activation = Literal["gelu", "relu", "silu"]
_ACTIVATIONS: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}


class MLP(nn.Module):
    """Two-layer head ``d_in -> hidden -> d_out``: Linear, [BatchNorm], act, Linear, [BatchNorm].

    This is TextME's projector (GELU; BatchNorm after each Linear in its public
    code, hence the flag) and the head shape of the binding and cycle methods.
    Outputs are L2-normalised by default because every loss and every
    retrieval downstream compares directions, not lengths. Weights use Xavier
    uniform init as in TextME's public code.
    """

    def __init__(self, d_in: int, hidden: int, d_out: int, activation: Activation = "gelu",
                 batchnorm: bool = False, normalize: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(d_in, hidden)]
        if batchnorm:
            layers.append(nn.BatchNorm1d(hidden))
        layers += [_ACTIVATIONS[activation](), nn.Linear(hidden, d_out)]
        if batchnorm:
            layers.append(nn.BatchNorm1d(d_out))
        self.layers = nn.Sequential(*layers)
        self.normalize = normalize
        for m in self.layers:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layers(x)
        return F.normalize(y, dim=-1) if self.normalize else y

    def ops(self, prefix: str) -> list[list]:
        """This forward as ``graph`` ops on the weights named ``<prefix>.layers.<i>.*`` (torch-free inference)."""
        out: list[list] = []
        for i, layer in enumerate(self.layers):
            key = f"{prefix}.layers.{i}"
            if isinstance(layer, nn.Linear):
                out.append(["linear", key])
            elif isinstance(layer, nn.BatchNorm1d):
                out.append(["batchnorm", key, layer.eps])
            else:
                out.append([next(n for n, cls in _ACTIVATIONS.items() if isinstance(layer, cls))])
        return out + [["normalize"]] if self.normalize else out


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (as in DDPM/transformers)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class Denoiser(nn.Module):
    """Conditional noise predictor ``eps(x_t, cond, t)`` over embedding vectors.

    An MLP with residual SiLU blocks; the condition (the anchor embedding) is
    concatenated to the noisy input and the timestep enters through a
    sinusoidal embedding added to the first hidden layer.
    """

    def __init__(self, dim: int, cond_dim: int, hidden: int, blocks: int, time_dim: int = 64) -> None:
        super().__init__()
        self.time_dim = time_dim
        self.time = nn.Sequential(nn.Linear(time_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.inp = nn.Linear(dim + cond_dim, hidden)
        self.blocks = nn.ModuleList(nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden))
                                    for _ in range(blocks))
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, cond: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # the time MLP runs once per distinct timestep, not per row: a batch of 512 holds at most the
        # schedule's 100 steps, and that MLP was a quarter of the denoiser's FLOPs (same function). The rows
        # pick their step's output by a one-hot product, not by indexing: the backward of an index is a
        # scatter-add whose order varies between CPU threads, and the weights would differ run to run
        steps, row_step = torch.unique(t, return_inverse=True)
        pick = F.one_hot(row_step, len(steps)).to(x.dtype)
        h = self.inp(torch.cat([x, cond], dim=1)) + pick @ self.time(timestep_embedding(steps, self.time_dim))
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)
