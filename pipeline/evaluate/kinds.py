"""Task kinds: each declared once, with its runner, headline metric, table columns and plot.

``eval.tasks.<name>.kind`` names one. The runner (``module:function``,
imported when a task of the kind runs) takes a :class:`~pipeline.evaluate.tasks.TaskContext`
and returns an :class:`~pipeline.evaluate.tasks.Outcome`. ``headline`` is the
number the report ranks a task by; ``columns`` are the metrics ``bridge eval``
prints; ``plot`` is the kind's ``dvc plots`` definition (its CSV's columns).
"""

from __future__ import annotations

from pipeline.core.registry import Entry, Registry

KINDS = Registry("task kind", [
    Entry("zeroshot", "pipeline.evaluate.tasks:zeroshot",
          "query rows classified against class vectors averaged from the gallery set's prompt rows",
          {"headline": "top1", "columns": ("top1", "top5", "balanced_accuracy"),
           "plot": {"title": "Zero-shot accuracy per class", "template": "bar_horizontal",
                    "x": "accuracy", "y": "class"}}),
    Entry("retrieval", "pipeline.evaluate.tasks:retrieval",
          "query rows against gallery rows, same-group rows are positives, both directions",
          {"headline": "q2g/recall@1", "columns": ("q2g/recall@1", "q2g/recall@5", "g2q/recall@1", "q2g/mrr"),
           "plot": {"title": "Retrieval recall@k, query -> gallery", "x": "k", "y": "recall_q2g"}}),
    Entry("gap", "pipeline.evaluate.tasks:gap",
          "modality-gap statistics of paired rows, before and after the sides' bridges",
          {"headline": "raw/gap_length", "columns": ("raw/gap_length", "bridged/gap_length"),
           "plot": {"title": "Modality-gap statistics", "template": "bar_horizontal", "x": "value",
                    "y": "statistic"}, "projection": True}),
])


def headline(kind: str) -> str:
    return KINDS.get(kind).info["headline"]
