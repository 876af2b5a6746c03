"""Contrastive and cosine losses, batched with masks: no Python loop over the batch.

The contrastive losses take rows that are usually L2-normalised (cosine
logits; EmergentBridge also feeds projected, unnormalised rows of norm <= 1)
and compute the similarity matrix in float32, also under autocast. Masked
entries are multiplied out of one shared exp (see ``_shifted_exp``), so a
masked row is finite with zero gradient, never NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _logits(q: torch.Tensor, k: torch.Tensor, tau: float) -> torch.Tensor:
    """``q k^T / tau`` in float32 even inside a mixed-precision (autocast) region."""
    with torch.autocast(q.device.type, enabled=False):
        return (q.float() @ k.float().T) * (1.0 / tau)


def _shifted_exp(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(row max m, exp(logits - m))`` with the shift clamped at -80.

    Masks are applied by multiplying this one exp (never by filling ``-inf``
    or a huge negative): ``exp`` of such values and of denormal results takes
    a slow path on CPU that would dominate the loss's time. The clamp keeps every
    value a normal float; the log-sum-exp stays exact whenever a kept entry is
    within 80 of the row max, which always holds for cosine logits with
    ``tau >= 0.025``. The max is detached: it only stabilises.
    """
    m = logits.detach().amax(dim=1, keepdim=True)
    return m.squeeze(1), (logits - m).clamp(min=-80.0).exp()


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def info_nce(q: torch.Tensor, k: torch.Tensor, tau: float, row_mask: torch.Tensor | None = None,
             col_mask: torch.Tensor | None = None) -> torch.Tensor:
    """One-way InfoNCE: row ``i`` of ``q`` must pick column ``i`` of ``k`` among the batch.

    ``row_mask`` drops queries from the mean (e.g. a modality missing from a
    tuple); ``col_mask`` drops candidates from every softmax. The diagonal is
    always a candidate so a kept row never has an empty softmax.
    """
    logits = _logits(q, k, tau)
    m, e = _shifted_exp(logits)
    if col_mask is None:
        total = e.sum(dim=1)
    else:
        cols = col_mask.to(e.dtype)
        total = (e * cols).sum(dim=1) + e.diagonal() * (1.0 - cols)
    return _masked_mean(m + total.log() - logits.diagonal(), row_mask)


def symmetric_info_nce(a: torch.Tensor, b: torch.Tensor, tau: float,
                       mask: torch.Tensor | None = None) -> torch.Tensor:
    """CLIP's loss: mean of ``a -> b`` and ``b -> a`` InfoNCE over rows where ``mask`` holds."""
    return 0.5 * (info_nce(a, b, tau, mask, mask) + info_nce(b, a, tau, mask, mask))


def hard_negative_nce(z: torch.Tensor, target: torch.Tensor, tau: float, low: float,
                      high: float) -> torch.Tensor:
    """TextME's hard-negative contrastive loss (docs/methods.md, "TextME").

    Negatives of query ``i`` are the ``j != i`` with
    ``low * s_ii <= s_ij <= high * s_ii``: not too easy, and not so close to the
    positive that they are probably unlabelled positives. The loss averages
    over queries that have at least one negative; when none has one (early in
    training, or a degenerate batch) it falls back to plain InfoNCE over the
    batch rather than returning a constant with no gradient. Both branches
    share one exp and are selected with ``torch.where``: no host sync.
    """
    s = _logits(z, target, 1.0)
    with torch.no_grad():
        pos = s.diagonal()[:, None]
        negatives = ((s >= low * pos) & (s <= high * pos)).to(s.dtype)  # one bool->float copy, reused
        negatives.fill_diagonal_(0.0)
        has_negative = negatives.amax(dim=1) > 0
    logits = s * (1.0 / tau)
    m, e = _shifted_exp(logits)
    diag = logits.diagonal()
    hard = _masked_mean(m + ((e * negatives).sum(dim=1) + e.diagonal()).log() - diag, has_negative)
    plain = (m + e.sum(dim=1).log() - diag).mean()
    return torch.where(has_negative.any(), hard, plain)


def cosine_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean ``1 - cos(x_i, y_i)``."""
    return (1.0 - F.cosine_similarity(x.float(), y.float(), dim=-1)).mean()
