"""``dvc.yaml`` written from params.yaml: one stage per set, bridge and task, each depending on exactly
what it reads.

Why generated rather than ``foreach``: DVC cannot interpolate a list into
``deps`` (treeverse/dvc#8171), so a templated eval stage could only depend
on every bridge, and changing one bridge reran every evaluation. Written out,
each stage names the embedding sets and bridge directories it reads, the
data files its source reads (a table or a media folder), the params keys it
uses, and the ``pipeline/`` code that runs in it (``tests/test_house.py``
checks the code deps against what a stage actually imports). ``bridge dvc``
rewrites the file after params.yaml gains or loses an entry; changing a
value needs nothing (DVC tracks params by key). Stage names are
``extract-<set>``, ``fit-<bridge>``, ``eval-<task>`` and ``report``: names
are identifiers (``core/names.py``), so they are valid DVC stage names as they
are.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from embridge.core.catalog import KINDS, split_model
from embridge.core.config import Params
from embridge.core.layout import Layout
from embridge.core.registry import USER_PREFIX
from embridge.evaluate.tasks import task_kind
from embridge.papers import load_report_config

#: the ``pipeline/`` code every stage runs (params, layout, files, errors, the catalog)
CORE = ["pipeline/core"]
CODE = {
    "extract": CORE + ["pipeline/extract", "pipeline/encoders", "pipeline/sources", "pipeline/store"],
    "fit": CORE + ["pipeline/bridges", "pipeline/store"],
    "eval": CORE + ["pipeline/evaluate", "pipeline/store"],
    "report": CORE + ["pipeline/evaluate", "pipeline/report.py", "pipeline/papers.py"],  # kinds' headlines
}
EXTRACT_PARAMS = ["extract.format", "extract.dtype", "extract.shard_rows", "extract.normalize", "extract.on_error"]
HEADER = ("# Written by `bridge dvc` from params.yaml: one stage per embedding set, bridge and task, each depending\n"
          "# on exactly what it reads (pipeline/dag.py says why). Rerun `bridge dvc` after adding or removing an\n"
          "# entry in params.yaml; changing a value needs nothing.\n")


def code_root() -> str | None:
    """Where ``pipeline/`` is, relative to the directory ``bridge dvc`` runs in: ``""`` at the repository's
    root, ``../../`` for a lane's own ``dvc.yaml`` in ``lanes/<lane>/`` (its stages run there, with their own
    ``params.yaml`` and ``artifacts/``, and still depend on the one copy of the code); None for a project
    outside the repository, whose stages do not depend on the installed package's files."""
    root = Path(__file__).resolve().parent.parent
    here = Path.cwd().resolve()
    if root == here:
        return ""
    if root in here.parents:
        return os.path.relpath(root, here).replace(os.sep, "/") + "/"
    return None  # a project of its own: the installed package is its environment, not one of its files


def _data_deps(params: Params, dataset: str) -> list[str]:
    """Files a source reads, so that `dvc repro` notices when they change (tables, media folders)."""
    options = params.datasets[dataset].options
    return [str(options[key]) for key in ("path", "root") if isinstance(options.get(key), str)]


def user_code(spec: str) -> list[str]:
    """The file of a user's own code that ``spec`` names (``python:<module>:<attr>``, a module or package in
    the project), so that editing it reruns the stages that run it; [] for built-in names, and for modules
    installed elsewhere (their version is the environment's, as for this package)."""
    if not spec.startswith(USER_PREFIX):
        return []
    module = spec.removeprefix(USER_PREFIX).partition(":")[0].replace(".", "/")
    return [p for p in (f"{module}.py", module) if p and Path(p).exists()][:1]


def _world(params: Params, options: dict[str, Any]) -> list[str]:
    world = options.get("world")
    return [f"worlds.{world}"] if isinstance(world, str) else []


def stages(params: Params) -> dict[str, dict[str, Any]]:
    layout, prefix = Layout(), code_root()
    code = {stage: [] if prefix is None else [prefix + path for path in paths] for stage, paths in
            [*CODE.items(), ("worlds", ["pipeline/worlds"]), ("bridges", ["pipeline/bridges"])]}
    out: dict[str, dict[str, Any]] = {}
    for name, ref in params.extract.sets.items():
        dataset, encoder = params.datasets[ref.dataset], params.encoders[ref.encoder]
        synthetic = dataset.source == "synthetic" or split_model(encoder.model)[0] == "synthetic"
        out[f"extract-{name}"] = {
            "cmd": f"bridge extract {name}",
            "deps": code["extract"] + (code["worlds"] if synthetic else [])
            + user_code(encoder.model) + _data_deps(params, ref.dataset),
            "params": [f"datasets.{ref.dataset}", f"encoders.{ref.encoder}",
                       *dict.fromkeys(_world(params, dataset.options) + _world(params, encoder.options)),
                       *EXTRACT_PARAMS, f"extract.sets.{name}"],
            "outs": [str(layout.embeddings(ref.path))],
        }
    for name, spec in params.fit.bridges.items():
        out[f"fit-{name}"] = {
            "cmd": f"bridge fit {name}",
            "deps": code["fit"] + user_code(spec.method) + [str(layout.embeddings(params.extract.sets[s].path))
                                                            for s in dict.fromkeys(spec.inputs.values())],
            "params": [f"fit.bridges.{name}"],
            "outs": [str(layout.bridge(name))],
        }
    report_deps = list(code["report"]) + [  # the training curves: each bridge's card, not its weights
        str(layout.bridge(name, seed) / "bridge.json") for name, spec in params.fit.bridges.items()
        for seed in (spec.seeds or [None])]
    report = load_report_config()  # claims and sweeps: files of the project, read when present
    report_deps += [os.path.normpath(f) for f in report.files]
    report_deps += [os.path.normpath(report.sweep_path(n)) for n in report.sweeps if report.sweep_path(n).exists()]
    # a sweep's row follows a params key (the pipeline's lambda): the report reruns when its section changes
    report_params = list(dict.fromkeys(["eval", "fit"] + [v["param"].partition(".")[0] for sweep in report.sweeps.values()
                                                          for v in sweep.row.values() if isinstance(v, dict)]))
    for name, task in params.eval.tasks.items():
        sides = [s for _, s in task.all_sides()]
        sets = dict.fromkeys(str(layout.embeddings(params.extract.sets[s.set].path)) for s in sides)
        bridges = dict.fromkeys(str(layout.bridge(s.bridge)) for s in sides if s.bridge)
        outs = [str(layout.metrics(name)), str(layout.protocol(name)), str(layout.plot(task.kind, name))]
        if task_kind(task.kind).projection:
            outs.append(str(layout.projection(name)))
        out[f"eval-{name}"] = {
            "cmd": f"bridge eval {name}",
            "deps": code["eval"] + (code["bridges"] if bridges else [])
            + list(dict.fromkeys(f for s in sides if s.bridge for f in user_code(params.fit.bridges[s.bridge].method)))
            + list(sets) + list(bridges),
            "params": ["eval.index", "eval.ks", f"eval.tasks.{name}"],
            "outs": outs,
        }
        report_deps += outs
    if params.eval.tasks:  # one summary of headline numbers is the metrics file: `dvc exp show` fits a screen
        out["report"] = {"cmd": "bridge report", "deps": report_deps, "params": report_params,
                         "outs": [str(layout.report())], "metrics": [str(layout.summary())]}
    return out


def plots(params: Params) -> list[dict[str, Any]]:
    """``dvc plots show`` definitions: one folder per task kind the tasks use, each with its own axes."""
    layout, used = Layout(), {task.kind for task in params.eval.tasks.values()}
    return [{str(layout.plots() / name): task_kind(name).plot.dvc()} for name in KINDS if name in used]


def render(params: Params) -> str:
    """The whole ``dvc.yaml``, deterministic for given params."""
    return HEADER + yaml.safe_dump({"stages": stages(params), "plots": plots(params)}, sort_keys=False, width=120)
