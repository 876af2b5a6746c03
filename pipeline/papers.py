"""The seed papers' claims, each beside the number the project's own tasks give for it.

A claim names the tasks and metrics that measure it here, how to combine them
(a value, a ratio in percent, a difference in points) and the paper's range.
``bridge report`` prints the table; a claim whose tasks are not in
``params.yaml`` is listed as not measured, so the table says what was and was
not reproduced, never more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: the pseudo-task under which the report passes the EmergentBridge sweep's row at the pipeline's lambda
SWEEP = "emergent-sweep"


@dataclass(frozen=True)
class Claim:
    paper: str
    claim: str
    #: ``value``: a's metric; ``ratio``: 100 x a / b; ``difference``: 100 x (a - b), in points
    measure: Literal["value", "ratio", "difference"]
    a: tuple[str, str]  # (task, metric)
    low: float
    high: float
    b: tuple[str, str] | None = None
    note: str = ""  # how the claim is read here, shown with every verdict
    why: str = ""  # what keeps it from being reproduced here, shown when it is not
    digits: int = 4  # decimals of a ``value`` (ratios and differences show one)

    def ours(self, metrics: dict[str, dict[str, float]]) -> float | None:
        """The project's number for this claim, or None when a task or metric it needs is missing."""
        try:
            a = metrics[self.a[0]][self.a[1]]
            b = metrics[self.b[0]][self.b[1]] if self.b else None
        except KeyError:
            return None
        if self.measure == "value":
            return a
        assert b is not None
        return 100.0 * a / b if self.measure == "ratio" else 100.0 * (a - b)

    @property
    def expected(self) -> str:
        unit = {"value": "", "ratio": " %", "difference": " points"}[self.measure]
        return f"{self.low:g} to {self.high:g}{unit}"


CLAIMS = (
    Claim("TextME (Tables 1-2)", "text-only projector keeps 74-88 % of the paired upper bound (zero-shot top-1)",
          "ratio", ("audio-zeroshot-textme", "top1"), 74, 88, ("audio-zeroshot-paired", "top1"),
          why="the world's modal tower content map (`modal_distortion`) sets how much a text-only projector "
              "loses: 73-89 % of paired over ten world seeds at the default 0.8"),
    Claim("TextME (Tables 1-2)", "PCA to the anchor dim (no training) is near chance (16 classes: 0.0625)",
          "value", ("audio-zeroshot-pca", "top1"), 0.0, 0.15, note="'near chance' as < 0.15: our threshold"),
    Claim("EmergentBridge", "pairs never trained together are retrieved nearly as well as trained pairs (R@1)",
          "difference", ("emergent-matrix", "emergent/mean_recall@1"), -10, 0,
          ("emergent-matrix", "trained/mean_recall@1"), note="'nearly' as within 10 points: our threshold"),
    Claim("EmergentBridge", "the orthogonal proxy term raises emergent R@1 (up to +49 % relative) at the "
          "default lambda (%)", "value", (SWEEP, "relative_gain"), 0, 49, digits=1,
          note="mean of 3 world seeds at the pipeline's lambda, default setting (benchmarks/emergent_sweep.py); "
               "lambda 0.3 gains 48 % but costs the anchor 3.6 points: both at once is not reproduced"),
    Claim("EmergentBridge", "... while the anchor pair's R@1 is kept (change at the default lambda, points)",
          "value", (SWEEP, "anchor_change"), -1, 1, digits=2, note="'kept' as within 1 point: our threshold"),
    Claim("CentroBind", "with a weak anchor, CentroBind's zero-shot beats FABind's (audio -> text top-1)",
          "difference", ("audio-zeroshot-centrobind", "top1"), 0, 100, ("audio-zeroshot-fabind", "top1")),
    Claim("CentroBind", "... and so do its linear probes (acc(All): the three modalities concatenated)",
          "difference", ("probe-centrobind", "accuracy"), 0, 100, ("probe-fabind", "accuracy"),
          why="a probe reads what a head keeps of its own input, and here an MLP head pulled onto a weak "
              "anchor keeps its input's information all the same (per-modality probes within ~2 points)"),
    Claim("Kamboj & Do", "Gaussian transfer matches a classifier fitted on the target modality's own labels",
          "difference", ("image-audio-transfer", "transfer/gaussian"), -2, 2,
          ("image-audio-transfer", "target/gaussian")),
    Claim("Modality gap (Liang et al.)", "the gap is one direction: consistency of per-pair gaps > 0.95", "value",
          ("clip-gap", "raw/gap_direction_consistency"), 0.95, 1.0),
    Claim("Modality gap (Liang et al.)", "the gap is orthogonal to the content: orthogonality < 0.05", "value",
          ("clip-gap", "raw/gap_orthogonality"), 0.0, 0.05),
    Claim("TextME (ablation)", "centring is what closes the gap: the centred gap is a small part of the raw one",
          "ratio", ("clip-gap", "bridged/gap_length"), 0, 10, ("clip-gap", "raw/gap_length"),
          note="'small' as < 10 %: our threshold"),
)


def claim_rows(metrics: dict[str, dict[str, float]]) -> list[dict[str, str]]:
    """One row per claim: paper, claim, the paper's range, ours, and whether ours is inside it."""
    rows = []
    for c in CLAIMS:
        ours = c.ours(metrics)
        if ours is None:
            verdict, shown = "not measured: its tasks are not in params.yaml" + (f" ({c.why})" if c.why else ""), ""
        else:
            inside = c.low <= ours <= c.high
            verdict = "reproduced" if inside else "not reproduced" + (f": {c.why}" if c.why else "")
            shown = f"{ours:.1f}" if c.measure != "value" else f"{ours:.{c.digits}f}"
        if c.note:
            verdict += f" ({c.note})"
        rows.append({"paper": c.paper, "claim": c.claim, "paper says": c.expected, "ours": shown,
                     "verdict": verdict})
    return rows
