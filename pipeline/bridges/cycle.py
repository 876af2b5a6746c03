"""MLP heads around a cycle of spaces ("Bridging Modalities" project; docs/methods.md, "Cycle heads").

One head per hop of a closed chain of >= 3 spaces, e.g. audio -> text ->
video -> audio. The notebook trains each hop with ``1 - cos(head(x), y_true)``
and lets gradients flow through the chain (a hop's input is the previous
hop's output); we add a cycle-consistency term ``1 - cos(cycle(x), x)`` for
the full loop from every starting space, which ties the heads together where
per-hop supervision alone does not.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from embridge.bridges.common import group_tuples
from embridge.bridges.losses import cosine_loss
from embridge.bridges.nets import MLP, Activation
from embridge.bridges.training import TorchBridge, TrainParams
from embridge.core.errors import BridgeError
from embridge.core.vectors import Space, Vectors, normalize


class CycleParams(TrainParams):
    """Defaults are the notebook's: Adam 1e-4, batch 64, 20 epochs, ReLU, no schedule or clipping."""

    epochs: int = Field(20, ge=0)
    batch_size: int = Field(64, ge=2)
    lr: float = Field(1e-4, gt=0)
    optimizer: Literal["adamw", "adam"] = "adam"
    weight_decay: float = Field(0.0, ge=0)
    schedule: Literal["cosine", "constant"] = "constant"
    grad_clip: float | None = None
    chain: tuple[str, ...] = Field((), description="role order around the cycle; empty = the roles' order")
    target: str = Field("", description="role whose space is the shared space; empty = first of the chain")
    hidden: int = Field(0, ge=0, description="head hidden width; 0 means max(in dim, out dim)")
    activation: Activation = "relu"
    chained: bool = Field(True, description="a hop's input is the previous hop's output (else the true x)")
    cycle_weight: float = Field(0.3, ge=0, description="weight of the cycle-consistency term")


class CycleBridge(TorchBridge):
    """Cycle heads: ``h_k`` maps space ``k`` to space ``k+1`` around a closed chain of >= 3 spaces.

    Roles: any names, one per space (at least three), e.g. ``audio``, ``text``,
    ``video``; rows pair into tuples by group and only complete tuples train.
    ``chain`` orders them (default: the roles' order). Loss = mean per-hop
    ``1 - cos`` + ``cycle_weight`` x mean over start spaces of
    ``1 - cos(h_{k-1}(...h_k(x_k)), x_k)``. Transform: a role's vectors follow
    the chain's heads until they reach ``target`` (whose vectors pass as ``n(x)``).
    """

    method = "cycle"
    Params = CycleParams
    params: CycleParams
    roles = ()
    min_roles = 3

    def __init__(self, params: CycleParams, spaces: dict[str, Space]) -> None:
        chain = tuple(params.chain) or tuple(spaces)
        if sorted(chain) != sorted(spaces):
            raise BridgeError(f"cycle: chain {list(chain)} must list each role {sorted(spaces)} exactly once")
        if params.target and params.target not in spaces:
            raise BridgeError(f"cycle: target {params.target!r} is not one of the roles {sorted(spaces)}")
        self.chain = chain
        super().__init__(params, spaces)

    @property
    def target_role(self) -> str:
        return self.params.target or self.chain[0]

    def paired_roles(self) -> list[tuple[str, str]]:
        """Consecutive roles of the chain (hop k maps role k onto role k + 1's rows of a tuple)."""
        return [(self.chain[k], self.chain[(k + 1) % len(self.chain)]) for k in range(len(self.chain))]

    def hop_name(self, k: int) -> str:
        return f"hop{k}"

    def build(self) -> nn.ModuleDict:
        p, dims = self.params, [self.spaces[r].dim for r in self.chain]
        m = len(dims)
        return nn.ModuleDict({self.hop_name(k): MLP(dims[k], p.hidden or max(dims[k], dims[(k + 1) % m]),
                                                    dims[(k + 1) % m], p.activation)
                              for k in range(m)})

    def around(self, start: int, x: torch.Tensor, hops: int) -> torch.Tensor:
        """Apply ``hops`` consecutive heads starting at chain position ``start``."""
        m = len(self.chain)
        for k in range(start, start + hops):
            x = self.nets[self.hop_name(k % m)](x)
        return x

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        xs, m = [batch[r] for r in self.chain], len(self.chain)
        hop_total, current = 0.0, xs[0]
        for k in range(m):
            inp = current if self.params.chained else xs[k]
            current = self.nets[self.hop_name(k)](inp)
            hop_total = hop_total + cosine_loss(current, xs[(k + 1) % m])
        loss = hop_total / m
        if self.params.cycle_weight > 0:
            cycle = sum(cosine_loss(self.around(k, xs[k], m), xs[k]) for k in range(m))
            loss = loss + self.params.cycle_weight * cycle / m
        return loss

    def _fit(self, inputs: dict[str, Vectors]) -> None:
        index = group_tuples({r: inputs[r] for r in self.chain})
        complete = np.all([index[r] >= 0 for r in self.chain], axis=0)
        if not complete.any():
            raise BridgeError(f"cycle: no group has rows in every space of the chain {list(self.chain)}")
        data = {r: self.tensor(normalize(inputs[r].vectors[index[r][complete]])) for r in self.chain}
        self.curve = self.run("heads", self.nets, lambda batch, gen: self.loss(batch), data)
        self.info.update(target=self.spaces[self.target_role].key, tuples=int(complete.sum()),
                         chain=[self.spaces[r].key for r in self.chain])

    def cycle_error(self, role: str, vectors: np.ndarray) -> float:
        """Mean ``1 - cos(cycle(x), x)`` for vectors of ``role``: how far a full loop drifts."""
        start = self.chain.index(role)
        x = normalize(vectors.astype(np.float32))
        y = self.apply(lambda t: self.around(start, t, len(self.chain)), x)
        return float(np.mean(1.0 - np.sum(normalize(y) * x, axis=1)))

    def ops(self, role: str) -> list[list]:
        """``n(x)`` through the heads from ``role``'s place in the chain on to the target's."""
        start, end, m = self.chain.index(role), self.chain.index(self.target_role), len(self.chain)
        hops = [op for k in range(start, start + (end - start) % m) for op in self.net_ops(self.hop_name(k % m))]
        return [["normalize"], *hops]
