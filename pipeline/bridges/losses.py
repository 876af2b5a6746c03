"""Contrastive and cosine losses, batched with masks: no Python loop over the batch.

The contrastive losses take rows that are usually L2-normalised (cosine
logits); EmergentBridge also feeds projected, unnormalised rows. They compute its similarity matrix in
float32 (also under autocast) so masked entries can use a large finite
negative instead of ``-inf``: a fully masked row then gives a finite value
whose gradient is zero, never NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _logits(q: torch.Tensor, k: torch.Tensor, tau: float) -> torch.Tensor:
    return (q.float() @ k.float().T) / tau


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
    if col_mask is not None:
        keep = col_mask[None, :] | torch.eye(len(q), dtype=torch.bool, device=q.device)
        logits = logits.masked_fill(~keep, torch.finfo(logits.dtype).min)
    per_row = torch.logsumexp(logits, dim=1) - logits.diagonal()
    return _masked_mean(per_row, row_mask)


def symmetric_info_nce(a: torch.Tensor, b: torch.Tensor, tau: float,
                       mask: torch.Tensor | None = None) -> torch.Tensor:
    """CLIP's loss: mean of ``a -> b`` and ``b -> a`` InfoNCE over rows where ``mask`` holds."""
    return 0.5 * (info_nce(a, b, tau, mask, mask) + info_nce(b, a, tau, mask, mask))


def hard_negative_nce(z: torch.Tensor, target: torch.Tensor, tau: float, low: float,
                      high: float) -> torch.Tensor:
    """TextME's hard-negative contrastive loss (METHODS.md section 1).

    Negatives of query ``i`` are the ``j != i`` with
    ``low * s_ii <= s_ij <= high * s_ii``: not too easy, and not so close to the
    positive that they are probably unlabelled positives. The loss averages
    over queries that have at least one negative; when none has one (early in
    training, or a degenerate batch) it falls back to plain InfoNCE over the
    batch rather than returning a constant with no gradient. Both branches are
    computed and selected with ``torch.where`` so there is no host sync.
    """
    s = _logits(z, target, 1.0)
    pos = s.diagonal()[:, None]
    eye = torch.eye(len(s), dtype=torch.bool, device=s.device)
    negatives = (s >= low * pos) & (s <= high * pos) & ~eye
    logits = s / tau
    masked = logits.masked_fill(~(negatives | eye), torch.finfo(logits.dtype).min)
    per_row = torch.logsumexp(masked, dim=1) - logits.diagonal()
    has_negative = negatives.any(dim=1)
    hard = _masked_mean(per_row, has_negative)
    plain = torch.logsumexp(logits, dim=1).sub(logits.diagonal()).mean()
    return torch.where(has_negative.any(), hard, plain)


def cosine_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean ``1 - cos(x_i, y_i)``."""
    return (1.0 - F.cosine_similarity(x.float(), y.float(), dim=-1)).mean()
