"""TextME (arXiv 2602.03098) and its paired upper bound: a projector into an LLM anchor space.

TextME trains a projector on *text only*: a bimodal encoder's text embedding
``E.text(t)``, centred by the text centroid, is mapped onto the anchor's
embedding ``A(t)`` of the same text. Because the modality gap of a
contrastive encoder is (nearly) a constant offset, centring the modal side by
its own centroid puts modal inputs where the projector was trained, so the
same projector maps ``E.modal(x)`` into the anchor space with no paired
(modal, text) data. ``paired_mlp`` is the paper's upper bound: the same
projector, trained on real (modal, anchor-text) pairs.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from embridge.bridges.common import require_pairs
from embridge.bridges.losses import hard_negative_nce, info_nce
from embridge.bridges.nets import MLP, Activation
from embridge.bridges.offset import centroid
from embridge.bridges.training import TorchBridge, TrainParams
from embridge.core.errors import BridgeError
from embridge.core.vectors import Space, Vectors, normalize, pair_by_group, pair_same_rows


class ProjectorParams(TrainParams):
    """TextME's projector, loss and centring; defaults are the paper's (docs/methods.md, "TextME")."""

    hidden: int = Field(0, ge=0, description="hidden width; 0 means 2 x input dim")
    batchnorm: bool = False
    activation: Activation = "gelu"
    loss: Literal["hard_negative", "infonce"] = "hard_negative"
    tau: float = Field(0.07, gt=0)
    low: float = 0.1
    high: float = 0.9
    centered: bool = Field(True, description="False is the no-centring ablation")
    noise_std: float = Field(0.0, ge=0, description="Gaussian noise added to centred inputs in training")
    renormalize: bool = Field(True, description="re-normalise after centring (+ noise), train and test")
    max_samples: int = Field(5000, ge=1, description="rows used for each centroid (seeded by `seed`)")


class _ProjectorBridge(TorchBridge):
    """Shared body of TextME and paired_mlp: centroids, centring, one projector, its training."""

    Params = ProjectorParams
    params: ProjectorParams
    #: roles whose vectors are centred and projected (they must share one dim)
    projected: ClassVar[tuple[str, ...]]

    def __init__(self, params: ProjectorParams, spaces: dict[str, Space]) -> None:
        dims = {spaces[r].dim for r in self.projected if r in spaces}
        if len(dims) > 1:
            raise BridgeError(f"method {self.method!r}: roles {list(self.projected)} must come from one "
                              f"encoder's towers of equal dim, got dims {sorted(dims)}")
        super().__init__(params, spaces)

    def build(self) -> nn.ModuleDict:
        p, d = self.params, self.spaces[self.projected[0]].dim
        return nn.ModuleDict({"projector": MLP(d, p.hidden or 2 * d, self.spaces["anchor"].dim,
                                               p.activation, p.batchnorm)})

    def fit_centroids(self, inputs: dict[str, Vectors]) -> None:
        p = self.params
        for role in self.projected:
            vectors = inputs[role].vectors
            self.arrays[f"mu_{role}"] = centroid(vectors, p.max_samples, p.seed).astype(np.float32)
            self.arrays[f"count_{role}"] = np.array([min(len(vectors), p.max_samples)], dtype=np.int64)
        self.info["centroid_samples"] = {r: int(self.arrays[f"count_{r}"][0]) for r in self.projected}

    def center(self, role: str, x: np.ndarray) -> np.ndarray:
        """``c(x) = n(x) - mu_role`` (or just ``n(x)`` without centring); no re-normalisation yet."""
        x = normalize(x.astype(np.float32))
        return x - self.arrays[f"mu_{role}"] if self.params.centered else x

    def train_projector(self, x: np.ndarray, y: np.ndarray) -> None:
        """Fit ``P`` so that ``P(c(x_i))`` picks ``n(y_i)`` among the batch's targets."""
        p, projector = self.params, self.nets["projector"]

        def loss_fn(batch: dict[str, torch.Tensor], gen: torch.Generator) -> torch.Tensor:
            inp = batch["x"]
            if p.noise_std > 0:
                inp = inp + p.noise_std * torch.randn(inp.shape, generator=gen, device=inp.device)
            if p.renormalize:
                inp = F.normalize(inp, dim=-1)
            z = projector(inp)
            if p.loss == "hard_negative":
                return hard_negative_nce(z, batch["y"], p.tau, p.low, p.high)
            return info_nce(z, batch["y"], p.tau)

        data = {"x": self.tensor(x), "y": self.tensor(normalize(y.astype(np.float32)))}
        self.curve = self.run("projector", projector, loss_fn, data)
        self.info.update(target=self.spaces["anchor"].key, pairs=len(x))

    def ops(self, role: str) -> list[list]:
        """``anchor -> n(x)``; the others ``P(n(c_role(x)))`` (the re-normalisation when ``renormalize``)."""
        if role == "anchor":
            return [["normalize"]]
        centre = [["subtract", f"array.mu_{role}"]] if self.params.centered else []
        again = [["normalize"]] if self.params.renormalize else []
        return [["normalize"], *centre, *again, *self.net_ops("projector")]


class TextMEBridge(_ProjectorBridge):
    """TextME: text-only projector from a bimodal encoder into an anchor text space.

    Roles:
      * ``text``: the bimodal encoder's text tower (e.g. ``clap/text``), the training inputs;
      * ``modal``: its modal tower (e.g. ``clap/audio``), used *only* for its centroid,
        so its rows need not be paired with anything;
      * ``anchor``: the anchor text space (e.g. an LLM embedder), the same texts as
        ``text`` (paired by id, else by group), the targets and the shared space.

    Transform: ``modal -> P(c_modal(x))``, ``text -> P(c_text(x))``, ``anchor -> n(x)``.
    ``centered=False`` is the paper's ablation without centring.
    """

    method = "textme"
    roles = ("text", "modal", "anchor")
    paired = (("text", "anchor"),)  # the modal rows give only their centroid
    projected = ("text", "modal")

    def _fit(self, inputs: dict[str, Vectors]) -> None:
        text, anchor = inputs["text"], inputs["anchor"]
        self.fit_centroids(inputs)
        it, ia = pair_same_rows(text, anchor)
        require_pairs(it, "textme", text, anchor)
        self.info["gap_length"] = float(np.linalg.norm(self.arrays["mu_text"] - self.arrays["mu_modal"]))
        self.train_projector(self.center("text", text.vectors[it]), anchor.vectors[ia])


class PairedMLPBridge(_ProjectorBridge):
    """The paired upper bound of TextME: the same projector trained on (modal, anchor-text) pairs.

    Roles: ``modal`` (e.g. ``clap/audio``) and ``anchor`` (the anchor text space:
    captions of the modal rows, paired by group). Transform: ``modal -> P(c_modal(x))``,
    ``anchor -> n(x)``. It sees the pairs TextME never sees, so TextME should
    stay at or below it.
    """

    method = "paired_mlp"
    roles = ("modal", "anchor")
    paired = (("modal", "anchor"),)
    projected = ("modal",)

    def _fit(self, inputs: dict[str, Vectors]) -> None:
        modal, anchor = inputs["modal"], inputs["anchor"]
        self.fit_centroids(inputs)
        im, ia = pair_by_group(modal, anchor)
        require_pairs(im, "paired_mlp", modal, anchor)
        self.train_projector(self.center("modal", modal.vectors[im]), anchor.vectors[ia])
