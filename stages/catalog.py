"""`bridge sources`, `bridge methods`, `bridge tasks`: what params.yaml can name, from pipeline/core/catalog.py.

(`bridge encoders` lists the encoder families, with the packaged models and params.yaml's encoders.)
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from embridge.core.catalog import KINDS, METHODS, SOURCES
from embridge.core.registry import Registry


def _show(registry: Registry, title: str, extra: dict[str, str]) -> None:
    table = Table(title=title)
    for column in ("name", "summary", *extra):
        table.add_column(column)
    for entry in registry.entries():
        table.add_row(entry.name, entry.summary, *(_cell(entry.info.get(key)) for key in extra.values()))
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
    _show(METHODS, "bridge methods (fit.bridges.<name>.method)", {"torch": "torch"})


def tasks() -> None:
    """Lists the task kinds (params.yaml: eval.tasks.<name>.kind) with their headline metric."""
    _show(KINDS, "task kinds (eval.tasks.<name>.kind)", {"headline": "headline", "metrics shown": "columns"})
