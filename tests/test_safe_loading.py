"""No pickle anywhere in the library or the CLI: loading a shared artifact must never run code.

Embedding sets and bridges travel between teammates through a DVC remote, so a file is untrusted input.
The scan reads the code's syntax tree (so docstrings saying "never pickle" are fine) and fails on any
pickle-family import or use, ``torch.load`` without ``weights_only=True``, and ``allow_pickle=True``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve"}
PANDAS_PICKLE = {"read_pickle", "to_pickle"}


def unsafe_loads(source: str) -> list[str]:
    """``line: what`` for every unsafe construct in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [f"{line}: import {a.name}" for a in node.names if a.name.split(".")[0] in PICKLERS]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PICKLERS:
            found.append(f"{line}: from {node.module} import ...")
        elif isinstance(node, ast.Name) and node.id in PICKLERS:
            found.append(f"{line}: uses {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in PANDAS_PICKLE:
            found.append(f"{line}: .{node.attr}")
        elif isinstance(node, ast.keyword) and node.arg == "allow_pickle" \
                and not (isinstance(node.value, ast.Constant) and node.value.value is False):
            found.append(f"{line}: allow_pickle={ast.unparse(node.value)}")
        elif isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load" and not any(
                k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords):
            found.append(f"{line}: torch.load without weights_only=True")
    return found


def test_the_scan_catches_each_unsafe_construct() -> None:
    bad = ("import pickle\nfrom dill import loads\nimport torch\nimport numpy as np\nimport pandas as pd\n"
           "torch.load('w.pt')\ntorch.load('w.pt', weights_only=False)\nnp.load('a.npy', allow_pickle=True)\n"
           "pd.read_pickle('t.pkl')\npickle.loads(b'')\n")
    assert unsafe_loads(bad) == [
        "1: import pickle", "2: from dill import ...", "6: torch.load without weights_only=True",
        "7: torch.load without weights_only=True", "8: allow_pickle=True", "9: .read_pickle", "10: uses pickle"]
    good = ('"""Never a pickle: weights are safetensors."""\nimport torch\nimport numpy as np\n'
            "torch.load('w.pt', weights_only=True)\nnp.load('a.npy', allow_pickle=False)\n")
    assert unsafe_loads(good) == []


@pytest.mark.parametrize("package", ["pipeline", "stages"])
def test_no_pickle_in_the_library_or_the_cli(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files
    found = {str(f.relative_to(REPO)): hits for f in files if (hits := unsafe_loads(f.read_text()))}
    assert found == {}
