"""EmergentBridge (arXiv 2604.11043): add a modality paired only with the anchor, via proxies.

A unified space already holds an anchor modality ``a`` and an aligned modality
``b`` (e.g. CLIP text and image). A new modality ``m`` has pairs with ``a``
only. Aligning ``m`` to ``a`` alone leaves ``m <-> b`` to emerge by
transitivity. EmergentBridge adds a proxy of ``b`` for every ``(m, a)`` pair,
``p = G(z_a)``, sampled from a conditional diffusion model (or a regressor)
trained on existing ``(a, b)`` pairs, and pulls ``f_m(x)`` towards it -- but
only in the subspace orthogonal to the anchor direction ``u = n(z_a)``, so the
proxy cannot fight the anchor term:
``L = InfoNCE(f_m(x), z_a) + lambda * InfoNCE(P_perp f_m(x), P_perp p)``,
``P_perp = I - u u^T`` per sample. No public code exists; every unclear
choice is a parameter (docs/methods.md, "EmergentBridge").
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from embridge.bridges import graph
from embridge.bridges.common import paired_moments, require_pairs
from embridge.bridges.diffusion import DDPM, Schedule
from embridge.bridges.losses import cosine_loss, symmetric_info_nce
from embridge.bridges.nets import MLP, Activation, Denoiser
from embridge.bridges.offset import normalize
from embridge.bridges.training import TorchBridge, TrainParams
from embridge.core.errors import BridgeError
from embridge.core.vectors import Space, Vectors, pair_by_group


class EmergentParams(TrainParams):
    hidden: int = Field(0, ge=0, description="head hidden width; 0 means 2 x input dim")
    activation: Activation = "gelu"
    tau: float = Field(0.07, gt=0)
    proxy_weight: float = Field(0.1, ge=0, description="lambda; unpublished. benchmarks/emergent_sweep.py sweeps it on "
                                "the default world (benchmarks/results/emergent_sweep.csv): 0.1 keeps the anchor and "
                                "raises emergent R@1; larger values raise it more at the anchor's cost; 0 is the "
                                "anchor-only ablation")
    orthogonal: bool = Field(True, description="project the proxy term orthogonally to n(z_a)")
    proxy: Literal["diffusion", "regressor"] = "diffusion"
    proxy_epochs: int = Field(200, ge=0, description="epochs of the proxy synthesiser")
    proxy_lr: float = Field(2e-3, gt=0, description="learning rate of the proxy synthesiser")
    diffusion_steps: int = Field(100, ge=2)
    beta_schedule: Schedule = "cosine"
    denoiser_hidden: int = Field(256, ge=1)
    denoiser_blocks: int = Field(3, ge=0)
    bound_map: Literal["none", "ridge"] = Field("none", description="ridge: the bound modality is not in the anchor's "
                                                "space yet (its own encoder): a ridge map fitted on the (anchor, bound) "
                                                "pairs brings it there first, as the image bridge of a binding model")
    bound_alpha: float = Field(10.0, ge=0, description="ridge penalty of bound_map")


def perpendicular(v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``P_perp v`` with ``P_perp = I - u u^T`` per row (``u`` unit rows).

    Deliberately *not* re-normalised: then the proxy InfoNCE depends on
    ``f_m(x_i)`` only through ``P_perp_i f_m(x_i)``, so its gradient is exactly
    the proxy gradient projected off the anchor direction (the "equivalent
    gradient projection" of the paper), and a head already close to its anchor
    (small perpendicular part) gets a small, not an amplified, proxy signal.
    """
    return v - (v * u).sum(-1, keepdim=True) * u


class EmergentBridge(TorchBridge):
    """EmergentBridge: a head for a new modality, regularised by synthetic proxies of a bound modality.

    Roles:
      * ``anchor`` (a): the unified space's anchor tower, e.g. ``clip/text``;
      * ``bound`` (b): a modality already aligned with ``a`` in that space, e.g.
        ``clip/image`` (same dim as ``a``); its rows pair with ``anchor`` by group
        and train the proxy synthesiser;
      * ``new`` (m): the new modality's own embeddings, paired with ``anchor`` only.

    Transform: ``anchor``, ``bound -> n(x)`` (they are the shared space);
    ``new -> f_m(n(x))``. ``synthesize(z_a)`` exposes the proxy generator.
    Ablations: ``proxy_weight=0`` (anchor only), ``orthogonal=False`` (proxy
    term in the full space), ``proxy="regressor"`` (deterministic proxy).
    """

    method = "emergent"
    Params = EmergentParams
    params: EmergentParams
    roles = ("anchor", "bound", "new")
    paired = (("new", "anchor"), ("anchor", "bound"))  # (anchor, bound) pairs train the proxy synthesiser

    def __init__(self, params: EmergentParams, spaces: dict[str, Space]) -> None:
        if spaces["anchor"].dim != spaces["bound"].dim and params.bound_map == "none":
            raise BridgeError(f"emergent: anchor and bound must live in one unified space, got dims "
                              f"{spaces['anchor'].dim} ({spaces['anchor'].key}) and "
                              f"{spaces['bound'].dim} ({spaces['bound'].key}); bound_map: ridge maps the bound "
                              f"modality there from their pairs")
        super().__init__(params, spaces)
        self.ddpm = DDPM(params.diffusion_steps, params.beta_schedule).to(self.device)

    @property
    def uses_proxy(self) -> bool:
        return self.params.proxy_weight > 0

    def build(self) -> nn.ModuleDict:
        p, d_m, d = self.params, self.spaces["new"].dim, self.spaces["anchor"].dim
        nets = {"head": MLP(d_m, p.hidden or 2 * d_m, d, p.activation)}
        if self.uses_proxy and p.proxy == "diffusion":
            nets["denoiser"] = Denoiser(d, d, p.denoiser_hidden, p.denoiser_blocks)
        elif self.uses_proxy:
            nets["regressor"] = MLP(d, 2 * d, d, p.activation)
        return nn.ModuleDict(nets)

    # -- the proxy synthesiser -------------------------------------------
    def fit_proxy(self, za: np.ndarray, zb: np.ndarray) -> None:
        """Train G on (a, b) pairs: a DDPM on standardised b given standardised a, or a cosine regressor.

        Both the diffused vectors and the condition are z-scored per dimension:
        unit vectors in d dims have coordinates of size ~1/sqrt(d), which would
        leave the condition drowned by unit-variance noise inputs.
        """
        proxy_params = self.params.model_copy(update={"epochs": self.params.proxy_epochs,
                                                       "lr": self.params.proxy_lr})
        if self.params.proxy == "diffusion":
            for name, z in (("proxy", zb), ("cond", za)):
                self.arrays[f"{name}_mean"] = z.mean(0).astype(np.float32)
                self.arrays[f"{name}_std"] = (z.std(0) + 1e-6).astype(np.float32)
            net = self.nets["denoiser"]
            data = {"x0": self.tensor(self.standardize("proxy", zb)),
                    "cond": self.tensor(self.standardize("cond", za))}
            self.run("proxy", net, lambda b, gen: self.ddpm.loss(net, b["x0"], b["cond"], gen), data,
                     proxy_params)
        else:
            net = self.nets["regressor"]
            self.run("proxy", net, lambda b, gen: cosine_loss(net(b["cond"]), b["zb"]),
                     {"cond": self.tensor(za), "zb": self.tensor(zb)}, proxy_params)

    def standardize(self, name: str, z: np.ndarray) -> np.ndarray:
        return (z - self.arrays[f"{name}_mean"]) / self.arrays[f"{name}_std"]

    @torch.no_grad()
    def synthesize(self, anchor_vectors: np.ndarray, seed: int | None = None, batch: int = 65536) -> np.ndarray:
        """Proxies ``p = G(z_a)`` of the bound modality for anchor embeddings (unit rows).

        Sampled in batches of ``batch`` rows (memory bounded by the batch), from
        one generator seeded by ``seed`` (default: the params' seed + 1).
        """
        if not self.uses_proxy:
            raise BridgeError("emergent: this bridge has no proxy synthesiser (proxy_weight = 0)")
        za = normalize(anchor_vectors.astype(np.float32))
        if self.params.proxy == "regressor":
            return self.apply(self.nets["regressor"], za)
        gen = torch.Generator(device=self.device).manual_seed(self.params.seed + 1 if seed is None else seed)
        cond = self.standardize("cond", za)
        self.nets.eval()
        chunks = [self.ddpm.sample(self.nets["denoiser"], self.tensor(cond[i:i + batch]), za.shape[1], gen)
                  .cpu().numpy() for i in range(0, len(cond), batch)]
        x = np.concatenate(chunks) if chunks else np.zeros_like(za)
        return normalize(x * self.arrays["proxy_std"] + self.arrays["proxy_mean"])

    # -- the head ---------------------------------------------------------
    def head_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        p = self.params
        z = self.nets["head"](batch["x"])
        za = batch["za"]
        loss = symmetric_info_nce(z, za, p.tau)
        if not self.uses_proxy:
            return loss
        proxy = batch["proxy"]
        if p.orthogonal:
            z, proxy = perpendicular(z, za), perpendicular(proxy, za)
        return loss + p.proxy_weight * symmetric_info_nce(z, proxy, p.tau)

    def fit_bound_map(self, za: np.ndarray, xb: np.ndarray) -> np.ndarray:
        """Ridge map from the bound modality's unit vectors to the anchor's on their pairs (``bound_map``);
        returns the mapped bound vectors. Stored as ``array.bound_map.{weight,bias}`` (nn.Linear's layout)."""
        m = paired_moments(xb, np.arange(len(xb)), za, np.arange(len(za)))
        weight = np.linalg.lstsq(m.xx + self.params.bound_alpha * np.eye(len(m.xx)), m.xy, rcond=None)[0]
        self.arrays["bound_map.weight"] = weight.T.astype(np.float32)
        self.arrays["bound_map.bias"] = (m.mean_y - m.mean_x @ weight).astype(np.float32)
        self.info.update(bound_map_r2=float(1 - m.residual(weight) / max(np.trace(m.yy), 1e-12)))
        return normalize(graph.run([["linear", "array.bound_map"]], self.state(), xb))

    def _fit(self, inputs: dict[str, Vectors]) -> None:
        a, b, m = inputs["anchor"], inputs["bound"], inputs["new"]
        # which groups give head pairs and proxy pairs (sparse pairs, the held-out protocol's disjoint halves)
        # is the roles' subsets' choice (fit.bridges.<b>.subsets.new / .bound), made before the rows get here
        im, ia = pair_by_group(m, a)
        require_pairs(im, "emergent (new, anchor)", m, a)
        za = normalize(a.vectors[ia].astype(np.float32))
        data = {"x": self.tensor(normalize(m.vectors[im])), "za": self.tensor(za)}
        self.info.update(head_groups=len(np.unique(m.groups[im])))
        if self.uses_proxy or self.params.bound_map != "none":
            ja, jb = pair_by_group(a, b)
            require_pairs(ja, "emergent (anchor, bound)", a, b)
            za_b, zb = normalize(a.vectors[ja].astype(np.float32)), normalize(b.vectors[jb].astype(np.float32))
            if self.params.bound_map != "none":
                zb = self.fit_bound_map(za_b, zb)
        if self.uses_proxy:
            self.info.update(proxy_groups=len(np.unique(a.groups[ja])))
            self.fit_proxy(za_b, zb)
            proxies = self.synthesize(za)
            data["proxy"] = self.tensor(proxies)
            self.info.update(proxy_pairs=len(ja),
                             proxy_cosine_to_anchor=float(np.mean(np.sum(proxies * za, axis=1))))
        self.curve = self.run("head", self.nets["head"], lambda batch, gen: self.head_loss(batch), data)
        self.info.update(target=f"{self.spaces['anchor'].encoder}:unified", pairs=len(im))

    def ops(self, role: str) -> list[list]:
        """``new -> f_m(n(x))``; ``anchor`` and ``bound`` are the shared space: ``n(x)`` (the bound modality
        through its ridge map first with ``bound_map``)."""
        if role == "bound" and self.params.bound_map != "none":
            return [["normalize"], ["linear", "array.bound_map"], ["normalize"]]
        return [["normalize"], *(self.net_ops("head") if role == "new" else [])]
