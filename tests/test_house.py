"""The house rules, checked: dvc.yaml is what params.yaml gives and agrees with the layout, each stage
imports only pipeline/ code its dvc.yaml deps name (and no torch when its work is numpy), and the import
graph has no cycle, no upward import out of core, no library -> CLI and no stage -> stage import."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from bridge_project import REPO, cli, env, synthetic_lane, write_params

from embridge.core.config import load_params
from embridge.core.layout import Layout
from embridge.dag import render, stages


def test_dvc_yaml_is_what_params_yaml_gives() -> None:
    assert (REPO / "dvc.yaml").read_text() == render(load_params(REPO / "params.yaml")), \
        "dvc.yaml is stale: run `bridge dvc`"


def test_dvc_yaml_outputs_are_the_layout() -> None:
    params, layout = load_params(REPO / "params.yaml"), Layout()
    graph = stages(params)
    for name, ref in params.extract.sets.items():
        assert graph[f"extract-{name}"]["outs"] == [str(layout.embeddings(ref.path))]
    for name in params.fit.bridges:
        assert graph[f"fit-{name}"]["outs"] == [str(layout.bridge(name))]
    for name, task in params.eval.tasks.items():
        assert graph[f"eval-{name}"]["outs"][:3] == [str(layout.metrics(name)), str(layout.protocol(name)),
                                                     str(layout.plot(task.kind, name))]
    assert graph["report"]["metrics"] == [str(layout.summary())]  # one metrics file: dvc exp show fits a screen
    every = [p for s in graph.values() for key in ("deps", "outs", "metrics") for p in s.get(key, [])]
    assert all(not p.startswith(("/", "..")) for p in every)


def test_eval_stages_depend_on_exactly_their_sets_and_bridges() -> None:
    params = load_params(REPO / "params.yaml")
    graph = stages(params)
    deps = graph["eval-audio-image-textme"]["deps"]
    assert [d for d in deps if d.startswith("artifacts/")] == [
        "artifacts/embeddings/synth/syn-clap/audio", "artifacts/embeddings/synth/syn-clip/image",
        "artifacts/bridges/textme-audio", "artifacts/bridges/textme-image"]
    assert "pipeline/bridges" not in graph["eval-clip-zeroshot-raw"]["deps"]
    users = {n for n, t in params.eval.tasks.items() if "clip-offset" in (t.query.bridge, t.gallery and t.gallery.bridge)}
    depending = {n.removeprefix("eval-") for n, s in graph.items() if "artifacts/bridges/clip-offset" in s["deps"]}
    assert depending == users == {"clip-zeroshot-offset", "clip-gap"}
    # the report reads each bridge's card (its training curves), never its weights
    assert "artifacts/bridges/clip-offset/bridge.json" in graph["report"]["deps"]
    assert not [d for d in graph["report"]["deps"] if d.startswith("artifacts/bridges/") and not d.endswith(".json")]


# -- what each stage imports -----------------------------------------------------------------------------

RECORD = """
import atexit, json, sys
out = sys.argv.pop(1)
def record():
    mods = {m: getattr(sys.modules[m], '__file__', None) for m in list(sys.modules)}
    json.dump({m: f for m, f in mods.items() if m.startswith('embridge')} | {'torch': 'torch' in mods},
              open(out, 'w'))
atexit.register(record)
sys.argv = ['bridge'] + sys.argv[1:]
from embridge.stages.cli import main
main()
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("house")
    params = synthetic_lane(tasks=["clip-zeroshot-raw", "clip-zeroshot-linear", "audio-zeroshot-textme"], groups=200)
    params["fit"]["bridges"]["textme-audio"]["params"] = {"epochs": 2}
    params["fit"]["bridges"]["paired-audio"]["params"] = {"epochs": 2}
    write_params(project, params, dvc=True)
    for stage in ("extract", "fit"):
        code, err = cli(project, stage)
        assert code == 0, err
    return project


def _imports(project: Path, *argv: str) -> dict:
    out = project / "imports.json"
    done = subprocess.run([sys.executable, "-c", RECORD, str(out), *argv], cwd=project, env=env(project),
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("argv,stage,numpy_only", [
    (["extract", "synth-clip-text"], "extract-synth-clip-text", True),
    (["fit", "clip-linear"], "fit-clip-linear", True),
    (["fit", "textme-audio"], "fit-textme-audio", False),
    (["eval", "clip-zeroshot-raw"], "eval-clip-zeroshot-raw", True),
    (["eval", "clip-zeroshot-linear"], "eval-clip-zeroshot-linear", True),
    (["eval", "audio-zeroshot-textme"], "eval-audio-zeroshot-textme", True),  # a frozen load: no torch
    (["report"], "report", True),
])
def test_a_stage_imports_only_code_its_dvc_deps_name(project: Path, argv: list[str], stage: str,
                                                    numpy_only: bool) -> None:
    if argv[0] == "report":
        assert cli(project, "eval")[0] == 0
    if argv[0] == "extract":
        (project / "artifacts/embeddings/synth/syn-clip/text/manifest.json").unlink()  # make it do the work
    seen = _imports(project, *argv)
    torch = seen.pop("torch")
    deps = yaml.safe_load((project / "dvc.yaml").read_text())["stages"][stage]["deps"]
    code = [REPO / d for d in deps if d.startswith("pipeline")]
    outside = sorted(m for m, f in seen.items() if f and Path(f).is_relative_to(REPO / "pipeline")
                     and Path(f) != REPO / "pipeline/__init__.py"  # the empty package marker
                     and not any(Path(f) == c or Path(f).is_relative_to(c) for c in code))
    assert outside == [], f"{stage} imports {outside}, which its deps {deps} do not name"
    assert torch is (not numpy_only), f"{stage}: torch imported = {torch}"


# -- the import graph ---------------------------------------------------------------------------------------

#: the folders the design names and the import names they install as (pyproject.toml's package-dir)
PACKAGES = {"pipeline": ("embridge",), "stages": ("embridge", "stages")}


def _module(path: Path) -> str:
    folder, *parts = path.relative_to(REPO).with_suffix("").parts
    parts = [*PACKAGES[folder], *parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _library(module: str) -> bool:
    """``embridge`` minus the CLI (``embridge.stages``) and ``python -m embridge``'s entry point."""
    return (module == "embridge" or module.startswith("embridge.")) and not module.startswith("embridge.stages") \
        and module != "embridge.__main__"


def _graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (top-level and inside functions alike)."""
    files = sorted([*REPO.glob("pipeline/**/*.py"), *REPO.glob("stages/*.py")])
    known = {_module(f) for f in files}
    graph: dict[str, set[str]] = defaultdict(set)
    for file in files:
        for node in ast.walk(ast.parse(file.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            for name in names:
                while name and name not in known:
                    name = name.rpartition(".")[0]
                if name and name != _module(file):
                    graph[_module(file)].add(name)
    return graph


def test_no_import_cycle_inside_pipeline() -> None:
    graph = {m: {d for d in deps if _library(d)} for m, deps in _graph().items() if _library(m)}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep.startswith(node + ".") or node.startswith(dep + ".") and dep == "embridge":
                continue
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_layers_point_down() -> None:
    graph = _graph()
    upward = {(m, d) for m, deps in graph.items() for d in deps
              if m.startswith("embridge.core") and not d.startswith("embridge.core")}
    assert upward == set(), "core imports only core"
    assert {(m, d) for m, deps in graph.items() for d in deps
            if _library(m) and d.startswith("embridge.stages")} == set()
    stage_to_stage = {(m, d) for m, deps in graph.items() for d in deps
                      if m.startswith("embridge.stages.") and m != "embridge.stages.cli"
                      and d.startswith("embridge.stages.")
                      and d != "embridge.stages.common"}  # the CLI root registers the stage modules; they share common
    assert stage_to_stage == set()


def test_the_cli_runs_as_a_module_beside_a_users_own_pipeline_folder(tmp_path: Path) -> None:
    """``python -m embridge`` is the ``bridge`` command where ``bridge`` is iproute2's; a project's own
    ``pipeline/`` and ``stages/`` packages in the working directory shadow nothing of ours."""
    for own in ("pipeline", "stages"):
        (tmp_path / own).mkdir()
        (tmp_path / own / "__init__.py").write_text("raise ImportError('the user package was imported')\n")
    for module in ("embridge", "embridge.stages.cli"):
        done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=tmp_path, capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0 and "extract" in done.stdout and "dvc" in done.stdout, done.stderr


def test_the_catalog_torch_flag_of_every_method_is_true() -> None:
    """``bridge methods`` says which methods need torch: importing each in a fresh process checks it."""
    from embridge.core.catalog import METHODS

    for entry in METHODS.entries():
        script = (f"import sys; from embridge.core.catalog import METHODS; "
                  f"METHODS.load({entry.name!r}); print('torch' in sys.modules)")
        done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
        assert done.stdout.strip() == str(entry.info["torch"]), entry.name
