"""One registry shape for everything params.yaml names by kind: encoder families, source kinds,
bridge methods and task kinds.

Each entry is declared once, as data: a name, where its code lives
(``module:attr``, imported on first use so that listing or validating never
imports torch), a one-line summary, and whatever must be known about it
without importing it (an encoder family's towers, whether a method needs
torch, the shape of a task kind's sides). What a task kind produces (its
headline, columns, plot and protocol words) is declared beside its runner:
``evaluate/tasks.py``'s ``TaskKind``. ``bridge encoders|sources|methods|tasks``
print these tables.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from embridge.core.errors import BridgeError


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "module:attr"
    summary: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    def load(self) -> Any:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


class Registry:
    """Named entries of one kind (``what``: "bridge method", "task kind", ...)."""

    def __init__(self, what: str, entries: Iterable[Entry]) -> None:
        self.what = what
        self._entries = {e.name: e for e in entries}

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def get(self, name: str) -> Entry:
        """The entry ``name``, or one line naming the closest known name."""
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(sorted(self._entries))}"
            raise BridgeError(f"unknown {self.what} {name!r}{hint}")
        return self._entries[name]

    def load(self, name: str) -> Any:
        return self.get(name).load()


#: what params.yaml writes to name a user's own code instead of a built-in entry
USER_PREFIX = "python:"


def split_user_target(spec: str, what: str, example: str) -> tuple[str, str]:
    """``"python:my_methods:Whitening"`` -> ``("my_methods", "Whitening")``, checking the form only
    (reading params.yaml never imports a user's module)."""
    module, sep, attr = spec.removeprefix(USER_PREFIX).partition(":")
    if not spec.startswith(USER_PREFIX) or not sep or not module or not attr or ":" in attr:
        raise BridgeError(f"{what} {spec!r}: expected 'python:<module>:<attr>', e.g. {example!r}")
    return module, attr


def import_user(spec: str, what: str, example: str) -> Any:
    """The object ``python:<module>:<attr>`` names. The working directory is importable (as under
    ``python -m``), so a ``my_methods.py`` beside ``params.yaml`` works without installing it."""
    module_name, attr = split_user_target(spec, what, example)
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise BridgeError(f"{what} {spec!r}: cannot import module {module_name!r} ({e})") from None
    except Exception as e:  # the user's module failed as it ran: name it; --debug shows where
        raise BridgeError(f"{what} {spec!r}: importing module {module_name!r} raised "
                          f"{type(e).__name__}: {e}") from e
    found = getattr(module, attr, None)
    if found is None:
        raise BridgeError(f"{what} {spec!r}: module {module_name!r} has no attribute {attr!r}")
    return found
