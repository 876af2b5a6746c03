"""The `bridge` command: extract -> fit -> eval, each a thin wrapper over pipeline/."""

from __future__ import annotations

import sys

import typer

from pipeline.errors import BridgeError
from stages.common import exit_with
from stages.encoders import encoders
from stages.evaluate import evaluate
from stages.extract import extract
from stages.fit import fit
from stages.report import report

app = typer.Typer(
    help="Precompute frozen-encoder embeddings, fit bridges between embedding spaces, evaluate with FAISS.\n\n"
         "Every command reads params.yaml (or --params FILE); --set KEY.PATH=VALUE overrides one key.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("extract")(extract)
app.command("fit")(fit)
app.command("eval")(evaluate)
app.command("encoders")(encoders)
app.command("report")(report)

_debug = {"on": False}


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors.")
             ) -> None:
    _debug["on"] = debug


def main() -> None:
    """Entry point: user errors become one line and exit code 2 unless --debug."""
    try:
        app()
    except BridgeError as e:
        if _debug["on"]:
            raise
        exit_with(str(e))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:
        if _debug["on"]:
            raise
        exit_with(f"internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)")
