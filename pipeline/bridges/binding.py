"""Binding M modalities into one space: CentroBind (arXiv 2410.02086) and its FABind baseline.

Both train one head per modality on cached embeddings of tuples (rows of the
M spaces that share a group; a tuple may miss modalities). FABind is the
ImageBind recipe: a fixed anchor modality, every other head pulled onto it.
CentroBind replaces the fixed anchor by each tuple's centroid of all present
modalities, so information the anchor encoder cannot see (a weak anchor) is
still shared between the other modalities.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
import torch
from pydantic import Field
from torch import nn

from embridge.bridges.common import group_tuples
from embridge.bridges.losses import info_nce, symmetric_info_nce
from embridge.bridges.nets import MLP, Activation
from embridge.bridges.offset import normalize
from embridge.bridges.training import TorchBridge, TrainParams
from embridge.core.errors import BridgeError
from embridge.core.vectors import Space, Vectors


class BindParams(TrainParams):
    hidden: int = Field(0, ge=0, description="head hidden width; 0 means 2 x input dim")
    activation: Activation = "gelu"
    batchnorm: bool = False
    tau: float = Field(0.07, gt=0)
    weights: dict[str, float] = Field(default_factory=dict, description="loss weight per role (default 1)")


class CentroBindParams(BindParams):
    dim: int = Field(0, ge=0, description="shared dim; 0 means the largest input dim")
    stop_gradient: bool = Field(False, description="detach the centroid anchor")


class FABindParams(BindParams):
    anchor: str = Field("", description="role of the fixed anchor; empty means the first role")


class _BindBridge(TorchBridge):
    """Shared body: a head per trained role, masked tuples as tensors, transform = head(n(x))."""

    params: BindParams
    roles = ()
    min_roles = 2
    #: a tuple is used for training when at least this many roles are present
    min_present = 2

    def __init__(self, params: BindParams, spaces: dict[str, Space]) -> None:
        bad = [r for r in spaces if "." in r or not r]
        if bad:
            raise BridgeError(f"method {self.method!r}: role names must be non-empty and dot-free, got {bad}")
        unknown = sorted(set(params.weights) - set(spaces))
        if unknown:
            raise BridgeError(f"method {self.method!r}: weights for unknown roles {unknown}; "
                              f"roles are {list(spaces)}")
        super().__init__(params, spaces)

    @property
    def headed(self) -> list[str]:
        """Roles that get a trained head."""
        return list(self.spaces)

    @property
    @abstractmethod
    def out_dim(self) -> int:
        """Dim of the shared space the heads map into."""

    def build(self) -> nn.ModuleDict:
        p = self.params
        return nn.ModuleDict({r: MLP(self.spaces[r].dim, p.hidden or 2 * self.spaces[r].dim, self.out_dim,
                                     p.activation, p.batchnorm) for r in self.headed})

    def weight(self, role: str) -> float:
        return self.params.weights.get(role, 1.0)

    def tuples(self, inputs: dict[str, Vectors]) -> dict[str, torch.Tensor]:
        """Training tensors: ``x:<role>`` (zeros where missing) and ``m:<role>`` (1 = present)."""
        index = group_tuples({r: inputs[r] for r in self.spaces})
        keep = self.usable(index)
        if not keep.any():
            raise BridgeError(f"{self.method}: no group has enough of the modalities {list(self.spaces)} "
                              f"to train on (need {self.min_present} per tuple)")
        data = {}
        for role, rows in index.items():
            rows = rows[keep]
            present = rows >= 0
            x = np.zeros((len(rows), self.spaces[role].dim), dtype=np.float32)
            x[present] = normalize(inputs[role].vectors[rows[present]])
            data[f"x:{role}"], data[f"m:{role}"] = self.tensor(x), self.tensor(present.astype(np.float32))
        self.info.update(tuples=int(keep.sum()),
                         present={r: int((index[r][keep] >= 0).sum()) for r in self.spaces})
        return data

    def usable(self, index: dict[str, np.ndarray]) -> np.ndarray:
        return np.sum([rows >= 0 for rows in index.values()], axis=0) >= self.min_present

    @abstractmethod
    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The method's loss on one batch of masked tuples."""

    def _fit(self, inputs: dict[str, Vectors]) -> None:
        data = self.tuples(inputs)
        self.curve = self.run("heads", self.nets, lambda batch, gen: self.loss(batch), data)
        self.info["target"] = self.target_name()

    def target_name(self) -> str:
        return f"{self.method}:{'+'.join(s.key for s in self.spaces.values())}"

    def ops(self, role: str) -> list[list]:
        """``f_role(n(x))``; a role without a head (FABind's anchor) is ``n(x)``."""
        return [["normalize"], *(self.net_ops(role) if role in self.nets else [])]


class CentroBindBridge(_BindBridge):
    """CentroBind: each tuple's anchor is the normalised centroid of its present modalities' heads.

    Roles: any names, one per modality space (at least two), e.g. ``text``,
    ``image``, ``audio``; rows pair into tuples by group, and a tuple with a
    missing modality uses the centroid over those present.
    ``L = sum_m w_m * 1/2 [InfoNCE(z^m -> c) + InfoNCE(c -> z^m)]`` with
    ``c = n(mean_m n(f_m(x^m)))``; ``stop_gradient`` detaches ``c``. Every role
    maps through its own head into a shared ``dim``-dimensional space.
    """

    def paired_roles(self) -> list[tuple[str, str]]:
        """Every two roles: a tuple's centroid ties all its modalities together."""
        roles = list(self.spaces)
        return [(a, b) for i, a in enumerate(roles) for b in roles[i + 1:]]

    method = "centrobind"
    Params = CentroBindParams
    params: CentroBindParams

    @property
    def out_dim(self) -> int:
        return self.params.dim or max(s.dim for s in self.spaces.values())

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        roles = list(self.spaces)
        z = torch.stack([self.nets[r](batch[f"x:{r}"]) for r in roles])
        present = torch.stack([batch[f"m:{r}"] for r in roles]) > 0.5
        centre = nn.functional.normalize((z * present[..., None]).sum(0), dim=-1)
        if self.params.stop_gradient:
            centre = centre.detach()
        tau = self.params.tau
        total = z.new_zeros((), dtype=torch.float32)
        for i, role in enumerate(roles):
            m = present[i]
            total = total + self.weight(role) * 0.5 * (info_nce(z[i], centre, tau, m)
                                                       + info_nce(centre, z[i], tau, m, m))
        return total


class FABindBridge(_BindBridge):
    """FABind (ImageBind-style fixed anchor): heads pull every other modality onto the anchor.

    Roles: any names, one per modality space (at least two); ``anchor`` names
    the fixed anchor role. The anchor is not trained: its normalised
    embeddings are the targets and the shared space, so every other role has a
    head into the anchor's dim. ``L = sum_{m != a} w_m * symmetric InfoNCE(z^m, z^a)``
    over tuples where both are present.
    """

    method = "fabind"
    Params = FABindParams
    params: FABindParams

    def __init__(self, params: FABindParams, spaces: dict[str, Space]) -> None:
        if params.anchor and params.anchor not in spaces:
            raise BridgeError(f"fabind: anchor {params.anchor!r} is not one of the roles {list(spaces)}")
        super().__init__(params, spaces)

    @property
    def anchor(self) -> str:
        return self.params.anchor or next(iter(self.spaces))

    def paired_roles(self) -> list[tuple[str, str]]:
        return [(r, self.anchor) for r in self.spaces if r != self.anchor]

    @property
    def headed(self) -> list[str]:
        return [r for r in self.spaces if r != self.anchor]

    @property
    def out_dim(self) -> int:
        return self.spaces[self.anchor].dim

    def usable(self, index: dict[str, np.ndarray]) -> np.ndarray:
        return (index[self.anchor] >= 0) & (super().usable(index))

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        target, anchor_present = batch[f"x:{self.anchor}"], batch[f"m:{self.anchor}"] > 0.5
        total = target.new_zeros((), dtype=torch.float32)
        for role in self.headed:
            mask = anchor_present & (batch[f"m:{role}"] > 0.5)
            total = total + self.weight(role) * symmetric_info_nce(self.nets[role](batch[f"x:{role}"]),
                                                                   target, self.params.tau, mask)
        return total

    def target_name(self) -> str:
        return self.spaces[self.anchor].key
