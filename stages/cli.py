"""The `bridge` command: extract -> fit -> eval, each a thin wrapper over pipeline/."""

from __future__ import annotations

import errno
import os
import re
import signal
import sys
from pathlib import Path

import typer
from typer._click import exceptions as click_errors  # typer's own copy of click: what it raises

from embridge.core.errors import BridgeError
from embridge.core.memory import bound_allocator
from embridge.stages.catalog import methods, sources, tasks
from embridge.stages.common import exit_with
from embridge.stages.dvc import dvc
from embridge.stages.encoders import encoders
from embridge.stages.evaluate import evaluate
from embridge.stages.export import export
from embridge.stages.extract import extract
from embridge.stages.fit import fit
from embridge.stages.publish import publish
from embridge.stages.query import embed, search
from embridge.stages.report import report

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
app.command("export")(export)
app.command("embed")(embed)
app.command("search")(search)
app.command("publish")(publish)
app.command("dvc")(dvc)
app.command("sources")(sources)
app.command("methods")(methods)
app.command("tasks")(tasks)

_debug = {"on": False}


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors.")
             ) -> None:
    _debug["on"] = debug


#: errors of the machine or the user's files, not of this project: one line naming the file
USER_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EMFILE, errno.ENAMETOOLONG}


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so the same cleanup runs: worker pools shut down,
    ``finally`` blocks remove temp files, and partial work stays on disk for the next run to resume."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)


def os_culprit(e: OSError) -> str:
    """The file an OS error is about, as the user knows it: a rename names its destination's folder, and
    a temp name (``.<name>.tmp-<pid>``) is shown as the ``<name>`` it was for."""
    path = e.filename2 if e.filename2 is not None else e.filename
    if path is None:
        return "a file"
    if e.filename2 is not None:
        path = Path(str(path)).parent
    # a temp name (a file's or a staging folder's, anywhere in the path) is shown as what it was for
    return "/".join(re.sub(r"^\.(.+)\.(?:tmp|incoming)-\d+$", r"\1", part) for part in Path(str(path)).parts
                    ).replace("//", "/", 1)


_received: list[int] = []  # the terminating signal, kept apart: a library may re-raise the interrupt as its own


def _terminate(signum: int, frame: object) -> None:
    _received.append(signum)
    raise Terminated(signum)


def main() -> None:
    """Entry point: user errors become one line and exit code 2 unless --debug."""
    bound_allocator()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    try:
        code = app(standalone_mode=False)  # click's errors come here, to be one line like the others
        if _received:
            sys.exit(128 + _received[0])
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Abort:  # click's form of an interrupt
        sys.exit(128 + (_received[0] if _received else signal.SIGINT))
    except click_errors.NoArgsIsHelpError as e:  # `bridge` alone: the help, as before
        e.show()
        sys.exit(e.exit_code)
    except click_errors.ClickException as e:  # a usage error: one line, not click's box
        command = e.ctx.command_path if getattr(e, "ctx", None) is not None else "bridge"
        exit_with(f"{e.format_message()} (see `{command} --help`)")
    except SystemExit:
        if _received:  # typer turns any interrupt into exit code 130: report the signal that came
            sys.exit(128 + _received[0])
        raise
    except BridgeError as e:
        if _debug["on"]:
            raise
        exit_with(str(e))
    except KeyboardInterrupt:
        sys.exit(128 + (_received[0] if _received else signal.SIGINT))
    except Exception as e:
        if _debug["on"]:
            raise
        if isinstance(e, OSError) and (e.errno in USER_ERRNOS or e.filename is not None):
            reason = os.strerror(e.errno) if e.errno else str(e)
            exit_with(f"{os_culprit(e)}: {reason} (nothing already written was changed)")
        exit_with(f"internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)")


if __name__ == "__main__":  # python -m embridge.stages.cli (python -m embridge is the short form)
    main()
