"""`bridge sources`, `bridge methods`, `bridge tasks`: what params.yaml can name, from pipeline/core/catalog.py
(a task kind's headline and columns from its declaration beside its runner, pipeline/evaluate/tasks.py).

(`bridge encoders` lists the encoder families, with the packaged models and params.yaml's encoders.)
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from embridge.core.catalog import KINDS, METHODS, SOURCES
from embridge.core.registry import Entry, Registry


def _show(registry: Registry, title: str, extra: dict[str, str], about: Callable[[Entry], dict] | None = None
          ) -> None:
    """One row per entry: name, summary and the ``extra`` columns, read from ``about(entry)`` (default: the
    entry's catalog line)."""
    table = Table(title=title)
    for column in ("name", "summary", *extra):
        table.add_column(column)
    for entry in registry.entries():
        info = about(entry) if about else entry.info
        table.add_row(entry.name, entry.summary, *(_cell(info.get(key)) for key in extra.values()))
    Console().print(table)


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (tuple, list)):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def sources() -> None:
    """Lists the source kinds (params.yaml: datasets.<name>.source)."""
    _show(SOURCES, "source kinds (datasets.<name>.source)", {})


def methods() -> None:
    """Lists the bridge methods (params.yaml: fit.bridges.<name>.method)."""
    _show(METHODS, "bridge methods (fit.bridges.<name>.method; your own: python:<module>:<Class>)",
          {"torch": "torch", "implements": "paper"})


def tasks() -> None:
    """Lists the task kinds (params.yaml: eval.tasks.<name>.kind) with their headline metric."""
    from embridge.evaluate.tasks import (
        task_kind,  # numpy and pydantic: the metrics load only when a task runs
    )

    def declared(entry: Entry) -> dict:
        kind = task_kind(entry.name)
        return {"headline": kind.headline_of(), "columns": kind.columns}

    _show(KINDS, "task kinds (eval.tasks.<name>.kind)", {"headline": "headline", "metrics shown": "columns"},
          declared)
