"""What every command shares: params loading, progress bars, and the one-line error policy."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from embridge.core.config import Params, load_params

console = Console(stderr=True)  # errors, warnings and progress
say = Console(soft_wrap=True, highlight=False)  # what a command did (stdout): an error stays the only stderr line

ParamsOption = typer.Option(Path("params.yaml"), "--params", "-p", help="Params file to read.")
SetOption = typer.Option(None, "--set", "-s", help="Override one key: KEY.PATH=VALUE (repeatable).")


def params_from(path: Path, overrides: list[str] | None) -> Params:
    return load_params(path, overrides or [])


class RateColumn(TextColumn):
    """Rows per second over the run so far (rich's own speed column is for bytes)."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task):  # type: ignore[no-untyped-def]
        from rich.text import Text

        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} rows/s")


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator:
    """A rich progress bar on a terminal; silent when output is piped or logged."""
    if not console.is_terminal:
        yield lambda done, total: None
        return
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.completed:,}/{task.total:,} rows"), RateColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done, total_: bar.update(task, completed=done, total=total_)


#: an error line longer than this is cut in the middle: a value quoted whole (a million seeds) is not a message
MAX_MESSAGE = 600


def exit_with(message: str) -> None:
    """Print ``error: <message>`` on one line; the message is escaped so ``[n, 7]`` is not read as rich markup."""
    message = " ".join(line.strip() for line in message.splitlines() if line.strip())  # always one line
    if len(message) > MAX_MESSAGE:
        cut = len(message) - MAX_MESSAGE
        message = f"{message[:MAX_MESSAGE // 2]} ...[{cut} characters]... {message[-MAX_MESSAGE // 2:]}"
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(2)
