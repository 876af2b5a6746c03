"""A small bridge project on disk for the reliability tests, and ways to run the real CLI in it.

The params are the repository's ``params.yaml`` reduced to the synthetic lane
(no model files, seconds to run), so the tests exercise what users run.
``cli`` runs ``bridge`` in-process (fast: for tables of cases); ``command``
gives the argv of the installed ``bridge`` script for real subprocesses
(kills, parallel partitions).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from embridge.stages.cli import main

REPO = Path(__file__).resolve().parents[1]


def synthetic_lane(tasks: Iterable[str] = (), sets: Iterable[str] = (), groups: int = 400,
                   extract: dict[str, Any] | None = None) -> dict[str, Any]:
    """``params.yaml`` cut down to ``tasks`` (with the bridges and sets they need) plus ``sets``.

    Only synthetic datasets are kept; ``groups`` sizes the world and
    ``extract`` overrides keys of the extract section (e.g. ``shard_rows``).
    """
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    all_tasks = params["eval"]["tasks"]
    keep_tasks = set(tasks)
    while missing := {all_tasks[t]["reference"] for t in keep_tasks if all_tasks[t].get("reference")} - keep_tasks:
        keep_tasks |= missing
    task_specs = {n: all_tasks[n] for n in sorted(keep_tasks)}
    sides = [s for t in task_specs.values() for s in (t["query"], t.get("gallery"), *t.get("sides", [])) if s]
    bridges = {n: b for n, b in params["fit"]["bridges"].items() if n in {s.get("bridge") for s in sides}}
    needed = {s["set"] for s in sides}
    needed |= {set_name for b in bridges.values() for set_name in b["inputs"].values()}
    set_specs = {n: s for n, s in params["extract"]["sets"].items() if n in set(sets) or n in needed}
    datasets = {s["dataset"] for s in set_specs.values()}
    assert all(params["datasets"][d]["source"] == "synthetic" for d in datasets), datasets
    params["datasets"] = {d: params["datasets"][d] for d in datasets}
    params["encoders"] = {e: params["encoders"][e] for e in {s["encoder"] for s in set_specs.values()}}
    params["extract"] = {**params["extract"], **(extract or {}), "sets": set_specs}
    params["fit"] = {"bridges": bridges}
    params["eval"]["tasks"] = task_specs
    for world in params["worlds"].values():
        world["groups"] = groups
    return params


def write_params(project: Path, params: dict[str, Any], dvc: bool = False) -> Path:
    """Write ``project/params.yaml``; with ``dvc``, also the ``dvc.yaml`` that ``bridge dvc`` writes for it."""
    project.mkdir(parents=True, exist_ok=True)
    path = project / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    if dvc:
        from embridge.core.config import load_params
        from embridge.dag import render

        (project / "dvc.yaml").write_text(render(load_params(path)))
    return path


def env(project: Path) -> dict[str, str]:
    """The environment of a ``bridge`` subprocess in ``project``."""
    return {**os.environ, "HF_HUB_OFFLINE": "1",
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def command(*args: str) -> list[str]:
    """argv of the installed ``bridge`` script (the one users run)."""
    return [str(Path(sys.executable).parent / "bridge"), *args]


@contextlib.contextmanager
def _patched(argv: list[str]) -> Iterator[None]:
    saved_argv, sys.argv = sys.argv, argv
    try:
        yield
    finally:
        sys.argv = saved_argv


def cli(project: Path, *args: str) -> tuple[int, str]:
    """Run ``bridge ARGS`` in-process with ``project`` as the working directory: (exit code, stderr)."""
    err = io.StringIO()
    with contextlib.chdir(project), contextlib.redirect_stderr(err), _patched(["bridge", *args]):
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return code, err.getvalue()


def cli_both(project: Path, *args: str) -> tuple[int, str, str]:
    """``cli`` that also returns stdout, where commands say what they did (``embridge.stages.common.say``)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code, err = cli(project, *args)
    return code, err, out.getvalue()


def cli_with_edit(project: Path, edit: Callable[[dict[str, Any]], Any], *args: str) -> tuple[int, str]:
    """``cli(project, *args)`` with ``project/params.yaml`` changed by ``edit`` (a function of its dict), and
    put back as it was afterwards."""
    path = project / "params.yaml"
    original = path.read_text()
    params = yaml.safe_load(original)
    edit(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        return cli(project, *args)
    finally:
        path.write_text(original)


def run_stages(project: Path, params: dict[str, Any]) -> Path:
    """Write ``params`` into ``project`` and run ``bridge extract``, ``fit`` and ``eval`` there, each to success."""
    write_params(project, params)
    for stage in ("extract", "fit", "eval"):
        code, err = cli(project, stage)
        assert code == 0, err
    return project


def pixel_project(project: Path, dataset: dict[str, Any], name: str = "d", encoder: dict[str, Any] | None = None,
                  **extract: Any) -> Path:
    """A project extracting ``dataset`` (as ``name``) with the tests' pixel encoder (``encoder``: its options)
    into set ``<name>-pix-image``; the encoder module is copied next to params.yaml, as a user's own would be
    (``cli_with_project`` imports it)."""
    import shutil

    write_params(project, {"datasets": {name: dataset},
                           "encoders": {"pix": {"model": "python:pixel_encoder:PixelEncoder",
                                                "options": encoder or {}}},
                           "extract": {**extract, "sets": {f"{name}-pix-image": {"dataset": name, "encoder": "pix",
                                                                                "tower": "image"}}}})
    shutil.copy(Path(__file__).with_name("pixel_encoder.py"), project / "pixel_encoder.py")
    return project


def cli_with_project(project: Path, *args: str) -> tuple[int, str]:
    """``cli`` with ``project`` on ``sys.path``, so a ``python:`` encoder module beside params.yaml imports."""
    sys.path.insert(0, str(project))
    try:
        return cli(project, *args)
    finally:
        sys.path.remove(str(project))


def tree_digest(path: Path) -> dict[str, str]:
    """sha256 of every file under ``path`` by relative name: equal digests mean byte-identical trees."""
    return {str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(path.rglob("*")) if f.is_file()}
