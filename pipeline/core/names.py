"""User-chosen names (datasets, encoders, towers, sets, bridges, tasks, worlds) are never paths.

Every name in params.yaml ends up as a path component somewhere under
``artifacts/`` or ``.bridge/``. A name like ``../embeddings`` would make
``artifacts/bridges/../embeddings`` and a bridge save would replace every
embedding set. So a name is checked once, where it is declared, against one
rule: a letter or digit, then letters, digits, ``_`` or ``-``, at most 100
characters. That is also what DVC allows in a stage name, so a bridge's name
is its stage's name (``fit-<bridge>``) unchanged. The layout (``layout.py``) checks
again, so a name that slipped past validation still cannot leave its root.
"""

from __future__ import annotations

import re

from embridge.core.errors import BridgeError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
RULE = "letters, digits, '_' and '-', starting with a letter or digit, at most 100 characters"


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a name (one phrase), or None when it can."""
    if not isinstance(name, str):
        return f"a name must be a string, got {name!r}"
    if not NAME.fullmatch(name):
        return f"{name!r} is not a valid name ({RULE})"
    return None


def check_name(name: object, where: str) -> str:
    """``name`` when it is safe as one path component, else a BridgeError naming ``where``."""
    problem = name_problem(name)
    if problem is not None:
        raise BridgeError(f"{where}: {problem}")
    return name  # type: ignore[return-value]
