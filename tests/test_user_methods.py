"""A user's own bridge method (``method: python:<module>:<Class>``): the contract checked on load in one
line, the guide's worked example (relative representations) through ``bridge fit``/``eval`` and
``dvc repro``, and its bridge loaded without the module through its inference graph."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from bridge_project import REPO, cli, env, synthetic_lane, write_params

import embridge

EXAMPLE = REPO / "docs/examples/my_methods.py"
GOOD = """
import numpy as np
from embridge import Bridge, MethodParams


class P(MethodParams):
    scale: float = 1.0


class Scale(Bridge):
    Params = P
    roles = ("source", "target")

    def _fit(self, inputs):
        self.info["target"] = "scaled"

    def _transform(self, role, x):
        return x * self.params.scale

    def state(self):
        return {"one": np.ones(1, np.float32)}

    def load_state(self, state):
        pass
"""


def _project(tmp_path: Path, method: str, module: str | None = None, source: str = "", **params) -> Path:
    project = tmp_path / "p"
    lane = synthetic_lane(tasks=["clip-zeroshot-raw"], groups=300)
    lane["fit"]["bridges"] = {"clip-user": {"method": method, "params": params,
                                            "inputs": {"source": "synth-clip-image", "target": "synth-clip-text"}}}
    lane["eval"]["tasks"]["clip-zeroshot-user"] = {"kind": "zeroshot", "query": {"set": "synth-clip-image",
                                                   "bridge": "clip-user"},
                                                   "gallery": {"set": "synth-clip-text", "bridge": "clip-user"}}
    write_params(project, lane)
    if module:
        (project / f"{module}.py").write_text(source)
    return project


def test_the_guide_shows_the_example_file_verbatim() -> None:
    assert EXAMPLE.read_text() in (REPO / "docs/guides/add-a-method.md").read_text()


@pytest.mark.parametrize("name,source,message", [
    ("um_not_bridge", "class Scale:\n    pass\n", "is not a subclass of embridge.Bridge"),
    ("um_roles", GOOD.replace('roles = ("source", "target")', 'roles = ["source", "target"]'),
     "roles must be a tuple of role names"),
    ("um_params", GOOD.replace("class P(MethodParams):", "class P:"), "Params must be a subclass of"),
    ("um_abstract", GOOD.replace("def _transform(self, role, x)", "def transform_(self, role, x)"),
     "does not implement _transform"),
    ("um_raises", "raise RuntimeError('broken at import')\n", "importing module 'um_raises' raised RuntimeError"),
    ("um_attr", GOOD, "has no attribute 'Nope'"),
    ("um_missing", None, "cannot import module 'um_missing'"),
    ("um_params_bad", GOOD, "fit.bridges.clip-user.params.scale"),
])
def test_a_method_that_breaks_the_contract_is_refused_in_one_line(tmp_path: Path, name: str, source: str | None,
                                                                     message: str) -> None:
    attr = "Nope" if name == "um_attr" else "Scale"
    params = {"scale": "big"} if name == "um_params_bad" else {}
    project = _project(tmp_path, f"python:{name}:{attr}", name if source else None, source or "", **params)
    assert cli(project, "extract")[0] == 0
    code, err = cli(project, "fit", "clip-user")
    assert code != 0 and message in err and err.count("\n") == 1, err
    assert not (project / "artifacts/bridges/clip-user").exists()


@pytest.mark.parametrize("spec", ["python:", "python:mod", "python::Cls", "python:mod:", "python:a:b:c"])
def test_a_malformed_spec_is_refused_when_params_are_read(tmp_path: Path, spec: str) -> None:
    project = _project(tmp_path, spec)
    code, err = cli(project, "fit", "clip-user")
    assert code == 2 and "fit.bridges.clip-user.method" in err and "python:<module>:<attr>" in err, err


def test_the_worked_example_fits_evaluates_and_loads_without_its_module(tmp_path: Path) -> None:
    project = _project(tmp_path, "python:my_methods:RelativeBridge", anchors=200)
    shutil.copy(EXAMPLE, project / "my_methods.py")
    for argv in (["extract"], ["fit"], ["eval"]):
        code, err = cli(project, *argv)
        assert code == 0, err
    card = json.loads((project / "artifacts/bridges/clip-user/bridge.json").read_text())
    assert card["method"] == "python:my_methods:RelativeBridge" and card["params"] == {"anchors": 200, "seed": 0}
    metrics = {t: json.loads((project / f"artifacts/metrics/{t}.json").read_text())
               for t in ("clip-zeroshot-raw", "clip-zeroshot-user")}
    # the synthetic CLIP's two towers share a space up to noise and a modality gap: similarities to 200 paired
    # anchors remove the gap and score above the raw space (0.73 against 0.63 top-1 on this world)
    assert metrics["clip-zeroshot-user"]["top1"] > metrics["clip-zeroshot-raw"]["top1"] + 0.03, metrics
    # the card's inference graph applies it with numpy alone: the same outputs without the module
    x = np.random.default_rng(0).normal(size=(20, card["spaces"]["source"]["dim"])).astype(np.float32)
    full = embridge.load(project / "artifacts/bridges/clip-user")
    frozen = embridge.load(project / "artifacts/bridges/clip-user", frozen=True)
    assert type(frozen).__name__ == "FrozenBridge"
    np.testing.assert_allclose(frozen.transform(x, role="source"), full.transform(x, role="source"), atol=1e-6)


@pytest.mark.slow
def test_the_worked_example_runs_under_dvc_repro_and_an_edit_of_the_module_refits(tmp_path: Path) -> None:
    project = _project(tmp_path, "python:my_methods:RelativeBridge", anchors=200)
    shutil.copy(EXAMPLE, project / "my_methods.py")
    run = {"cwd": project, "env": env(project), "capture_output": True, "text": True, "check": False}
    for argv in (["git", "init", "-q"], ["dvc", "init", "-q"], ["bridge", "dvc"], ["dvc", "repro", "-q"]):
        done = subprocess.run(argv, **run)
        assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    assert "my_methods.py" in stages["fit-clip-user"]["deps"]
    assert "my_methods.py" in stages["eval-clip-zeroshot-user"]["deps"]
    assert (project / "artifacts/metrics/clip-zeroshot-user.json").is_file()
    with (project / "my_methods.py").open("a") as f:
        f.write("\n# an edit\n")
    status = subprocess.run(["dvc", "status", "--json"], **run)
    changed = set(json.loads(status.stdout))
    assert {"fit-clip-user", "eval-clip-zeroshot-user"} <= changed and "eval-clip-zeroshot-raw" not in changed
