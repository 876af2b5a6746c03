"""Where everything lives on disk: one object, the only place a path of an artifact is built.

``dvc.yaml`` names the same paths (``tests/test_house.py`` checks that they
agree). Every path is built from names that pass ``check_name`` and is
refused if it would leave the project root, so no params value can make a
stage read or write outside its own folder.

DVC outputs live under ``artifacts/``; work that must survive a stage rerun
(DVC deletes a stage's outputs before running it) lives under ``.bridge/``:

======================  ==================================================
``embeddings(set)``     ``artifacts/embeddings/<dataset>/<encoder>/<tower>``
``partial(set)``        ``.bridge/partial/<set path>``: extraction in progress
``parts(set)``          ``.bridge/parts/<set path>``: ``--partition`` parts
``bridge(name)``        ``artifacts/bridges/<name>``
``checkpoints(name)``   ``.bridge/checkpoints/<name>``: resumable training
``metrics(task)``       ``artifacts/metrics/<task>.json``
``plot(kind, task)``    ``artifacts/plots/<kind>/<task>.csv``
``protocol(task)``      ``artifacts/protocols/<task>.json``: what produced the task's numbers
``summary()``           ``artifacts/summary.json``: each task's headline number (``dvc metrics``)
``projection(task)``    ``artifacts/projections/<task>.csv``: 2-D points the report draws
``report()``            ``artifacts/report``
``index(set, bridge)``  ``artifacts/indexes/<set>/<bridge or none>.faiss``: ``bridge search``'s index
``logs(stage, name)``   ``.bridge/logs/<stage>/<name>.json``: timings, never a DVC output
``cache(*names)``       ``.bridge/cache/.../<last>.json``: e.g. media file digests
``lock(*names)``        ``.bridge/locks/.../<last>.lock``
======================  ==================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from embridge.core.errors import BridgeError
from embridge.core.names import check_name

ARTIFACTS = Path("artifacts")
WORK = Path(".bridge")


@dataclass(frozen=True)
class Layout:
    """The project's paths, relative to ``root`` (the directory ``bridge`` runs in)."""

    root: Path = Path(".")

    def _under(self, base: Path, *names: str, suffix: str = "") -> Path:
        for name in names:
            check_name(name, str(base))
        path = self.root / base / Path(*names) if names else self.root / base
        if suffix:
            path = path.with_name(path.name + suffix)
        inside = os.path.normpath(self.root / base)
        if os.path.commonpath([inside, os.path.normpath(path)]) != inside:  # belt and braces
            raise BridgeError(f"{path}: refusing a path outside {inside}")
        return path

    # -- DVC outputs -----------------------------------------------------------------------
    def embeddings(self, set_path: str = "") -> Path:
        return self._under(ARTIFACTS / "embeddings", *split_set(set_path))

    def bridges(self) -> Path:
        return self._under(ARTIFACTS / "bridges")

    def bridge(self, name: str, seed: int | None = None) -> Path:
        """A bridge's directory; with ``seed``, that seed's bridge inside it (``fit.bridges.<b>.seeds``)."""
        return self._under(ARTIFACTS / "bridges", name, *([f"seed-{seed}"] if seed is not None else []))

    def metrics(self, task: str | None = None) -> Path:
        return self._under(ARTIFACTS / "metrics", *([task] if task else []), suffix=".json" if task else "")

    def plot(self, kind: str, task: str) -> Path:
        return self._under(ARTIFACTS / "plots", kind, task, suffix=".csv")

    def protocol(self, task: str) -> Path:
        return self._under(ARTIFACTS / "protocols", task, suffix=".json")

    def summary(self) -> Path:
        return self._under(ARTIFACTS, "summary", suffix=".json")

    def projection(self, task: str) -> Path:
        return self._under(ARTIFACTS / "projections", task, suffix=".csv")

    def plots(self) -> Path:
        return self._under(ARTIFACTS / "plots")

    def report(self) -> Path:
        return self._under(ARTIFACTS / "report")

    def index(self, set_name: str, bridge: str | None = None) -> Path:
        """The FAISS index ``bridge search`` builds over a set (through a bridge), with a ``.json`` card."""
        return self._under(ARTIFACTS / "indexes", set_name, bridge or "none", suffix=".faiss")

    # -- work that outlives a stage rerun --------------------------------------------------
    def partial(self, set_path: str) -> Path:
        return self._under(WORK / "partial", *split_set(set_path))

    def parts(self, set_path: str) -> Path:
        return self._under(WORK / "parts", *split_set(set_path))

    def checkpoints(self, name: str) -> Path:
        return self._under(WORK / "checkpoints", name)

    def logs(self, stage: str, name: str) -> Path:
        return self._under(WORK / "logs", stage, name, suffix=".json")

    def cache(self, *names: str) -> Path:
        return self._under(WORK / "cache", *names, suffix=".json")

    def lock(self, *names: str) -> Path:
        return self._under(WORK / "locks", *names, suffix=".lock")


def split_set(set_path: str) -> list[str]:
    """``"synth/syn-clip/text"`` -> its three names (an empty path -> none)."""
    return [p for p in set_path.split("/")] if set_path else []
