"""The public API: what ``import embridge`` offers, its doctests, and the import name's promise (PyPI's
``pipeline`` and ``stages`` packages and a user's own ``pipeline/`` folder shadow nothing)."""

from __future__ import annotations

import doctest
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bridge_project import REPO, cli, synthetic_lane, write_params

import embridge
from embridge.bridges.base import method_class
from embridge.core.errors import BridgeError

#: the modules whose docstrings carry the public API's examples
DOCUMENTED = ("embridge", "embridge.api", "embridge.bridges.base", "embridge.core.vectors", "embridge.query")


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic project with the CLIP-like sets extracted and ``clip-linear`` fitted (image -> text)."""
    project = tmp_path_factory.mktemp("api")
    write_params(project, synthetic_lane(tasks=["clip-zeroshot-linear"], groups=40))
    for argv in (["extract"], ["fit", "clip-linear"]):
        code, err = cli(project, *argv)
        assert code == 0, err
    return project


@pytest.fixture(scope="module")
def tiny_set(tiny_project: Path) -> Path:
    """One extracted synthetic set (image tower of the synthetic CLIP), for the set readers' examples."""
    return tiny_project / "artifacts/embeddings/synth/syn-clip/image"


def _globs(tiny_project: Path) -> dict:
    """What the examples may name besides the module's own globals: the tiny project, one of its sets, and
    two raw inputs of its image tower (a synthetic world's observations)."""
    from embridge.core.config import load_params
    from embridge.sources.synthetic import SyntheticSource

    params = load_params(tiny_project / "params.yaml")
    world = params.datasets[params.extract.sets["synth-clip-image"].dataset].options["world"]
    images = SyntheticSource("synth", params.worlds[world]).rows("image").take(slice(0, 2)).payload
    return {"embridge": embridge, "np": np, "tiny_project": str(tiny_project),
            "tiny_set": str(tiny_project / "artifacts/embeddings/synth/syn-clip/image"), "tiny_images": images}


@pytest.mark.parametrize("module", DOCUMENTED)
def test_doctests(module: str, tiny_project: Path) -> None:
    import importlib

    mod = importlib.import_module(module)
    globs = _globs(tiny_project)
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [t for t in finder.find(mod, module, extraglobs=globs) if t.examples]
    assert tests, f"{module} has no examples"
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} of {runner.tries} examples in {module} failed (see output)"


def test_every_public_name_is_documented_with_an_example() -> None:
    for name in embridge.__all__:
        if name == "__version__":
            continue
        obj = getattr(embridge, name)
        doc = inspect.getdoc(obj) or ""
        assert doc, f"embridge.{name} has no docstring"
        if inspect.isfunction(obj):
            assert ">>>" in doc, f"embridge.{name}'s docstring has no example"
    assert set(dir(embridge)) >= set(embridge.__all__) and set(embridge.__all__) == {"__version__", *embridge._PUBLIC}
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        embridge.nope  # noqa: B018


def test_no_public_name_is_also_a_submodule() -> None:
    """Importing a submodule sets it as the package's attribute: a module ``embridge/fit.py`` replaced the
    function ``embridge.fit`` as soon as any code imported it (the fit stage, a test), in every notebook."""
    import importlib
    import pkgutil

    modules = {m.name for m in pkgutil.iter_modules(embridge.__path__)}
    assert modules & set(embridge.__all__) == set(), modules & set(embridge.__all__)
    importlib.import_module("embridge.bridges.run")  # what the fit stage imports

    assert callable(embridge.fit) and embridge.fit.__module__ == "embridge.api"


def test_import_embridge_is_light() -> None:
    """``import embridge`` loads no submodule: stages import only the code their DVC deps name."""
    script = "import sys, embridge; print(sorted(m for m in sys.modules if m.startswith('embridge')), " \
             "'numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["['embridge']", "False"]


def test_fit_follows_the_estimator_contract() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(600, 12)).astype(np.float32)
    w = rng.normal(size=(12, 6)).astype(np.float32)
    y = x @ w + 0.5
    bridge = embridge.fit("linear", {"source": x, "target": y}, renormalize=False)
    assert bridge.is_fitted and bridge.get_params() == {"alpha": 0.0, "renormalize": False}
    np.testing.assert_allclose(bridge.transform(x[:20], role="source"), y[:20], atol=1e-4)  # exact least squares
    np.testing.assert_array_equal(bridge.transform(y[:5], space="target/vectors"), y[:5])
    # the card names what it saw: the fingerprint of each array's bytes
    again = embridge.fit("linear", {"source": x, "target": y}, renormalize=False)
    assert again.fitted_on == bridge.fitted_on
    assert embridge.fit("linear", {"source": x[::-1], "target": y[::-1]}).fitted_on != bridge.fitted_on
    fresh = type(bridge)(bridge.params, bridge.spaces)
    with pytest.raises(BridgeError, match="not fitted"):
        fresh.transform(x, role="source")
    assert fresh.fit({"source": x, "target": y}) is fresh
    assert fresh.set_params(alpha=1.0).is_fitted is False
    with pytest.raises(BridgeError, match="params.alpha"):
        fresh.set_params(alpha="lots")


@pytest.mark.parametrize("inputs,message", [
    ({"source": np.zeros((0, 4)), "target": np.zeros((0, 4))}, "n, dim > 0"),
    ({"source": np.ones(5), "target": np.ones(5)}, r"\[n, dim\]"),
    ({"source": [["a"]], "target": [[1.0]]}, "float array"),
    ({"source": np.full((9, 3), np.nan), "target": np.ones((9, 3))}, "NaN|non-finite|inf"),
    ({"source": np.ones((9, 3))}, "roles"),
])
def test_fit_refuses_bad_arrays_in_one_line(inputs: dict, message: str) -> None:
    with pytest.raises(BridgeError, match=message) as caught:
        embridge.fit("linear", inputs)
    assert "\n" not in str(caught.value)


def test_transform_names_the_input(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    bridge = embridge.fit("offset", {"source": x, "target": x + 1})
    for kwargs, message in [({}, "say which input"), ({"role": "audio"}, "no role 'audio'"),
                            ({"space": "clap/audio"}, "does not map space"),
                            ({"role": "source", "space": "source/vectors"}, "not both")]:
        with pytest.raises(BridgeError, match=message):
            bridge.transform(x, **kwargs)
    with pytest.raises(BridgeError, match=r"must be \[n, 4\]"):
        bridge.transform(x[:, :3], role="source")


def test_load_round_trips_every_numpy_method(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 8)).astype(np.float32)
    y = np.tanh(x @ rng.normal(size=(8, 8)).astype(np.float32))
    for method in ("linear", "procrustes", "cca", "pca_naive", "offset", "gaussian"):
        roles = method_class(method).roles or ("a", "b")
        bridge = embridge.fit(method, dict(zip(roles, (x, y), strict=True)))
        bridge.save(tmp_path / method)
        loaded = embridge.load(tmp_path / method)
        assert loaded.content_sha256 == bridge.content_sha256
        np.testing.assert_array_equal(loaded.transform(x[:50], role=roles[0]), bridge.transform(x[:50], role=roles[0]))


NOTEBOOK = """\
import numpy as np, embridge
x = np.random.default_rng(0).normal(size=(500, 16)).astype("float32")
bridge = embridge.fit("linear", {"source": x, "target": x[:, :8]})
bridge.save("my-bridge")
print(embridge.load("my-bridge").transform(x[:2], role="source").shape)
"""


@pytest.mark.slow
def test_installs_and_runs_beside_pypi_pipeline_and_stages_and_a_users_pipeline_folder(tmp_path: Path) -> None:
    """A fresh environment that already holds PyPI's ``pipeline`` and ``stages``, a notebook started in a
    project with its own ``pipeline/`` package: the project installs (not editable), its CLI runs, and the
    five-line notebook fits, transforms, saves and loads a bridge."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin/python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # the dependencies (numpy, torch, ...) come from this environment rather than a second download
    Path(site, "_deps.pth").write_text(str(Path(np.__file__).parents[1]) + "\n")
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "pipeline", "stages"], check=True, timeout=600)
    subprocess.run([*pip, "--no-deps", str(REPO)], check=True, timeout=600)

    work = tmp_path / "my-project"
    (work / "pipeline").mkdir(parents=True)
    (work / "pipeline" / "__init__.py").write_text("WHOSE = 'the user'\n")
    (work / "notebook.py").write_text(NOTEBOOK)
    assert len(NOTEBOOK.splitlines()) <= 5

    def run(*argv: str | Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(a) for a in argv], cwd=work, capture_output=True, text=True, check=False,
                              timeout=300)

    done = run(python, "-c", "import pipeline, stages, embridge; print(pipeline.WHOSE, "
               f"stages.__file__.startswith({site!r}), embridge.__file__.startswith({site!r}))")
    assert done.stdout.split() == ["the", "user", "True", "True"], done.stderr
    done = run(python, "notebook.py")
    assert done.returncode == 0 and done.stdout.strip() == "(2, 8)", done.stderr
    assert (work / "my-bridge" / "bridge.json").is_file()
    for argv in ([venv / "bin/bridge", "methods"], [python, "-m", "embridge", "methods"]):
        done = run(*argv)
        assert done.returncode == 0 and "procrustes" in done.stdout, done.stderr


def render_api() -> str:
    """docs/api.md: each public name's signature and docstring, as ``help(embridge)`` shows them."""
    lines = ["# Python API", "", "Generated from the docstrings by `python tests/test_api.py` (a test checks it is",
             "current). `help(embridge)` prints the same. The examples run as doctests in the test suite.", "",
             "```python", "import embridge", "```", ""]
    for name in embridge.__all__:
        if name == "__version__":
            continue
        obj = getattr(embridge, name)
        kind = "class" if inspect.isclass(obj) else "function"
        try:
            signature = str(inspect.signature(obj)) if kind == "function" else ""
        except (TypeError, ValueError):
            signature = ""
        lines += [f"## `embridge.{name}{signature}`", "", f"*{kind}*, defined in `{obj.__module__}`.", "",
                  "```text", inspect.getdoc(obj) or "", "```", ""]
        if inspect.isclass(obj):
            for member, value in sorted(vars(obj).items()):
                if not member.startswith("_") and callable(value) and inspect.getdoc(value):
                    sig = str(inspect.signature(value)) if inspect.isfunction(value) else ""
                    lines += [f"### `{name}.{member}{sig}`", "", "```text", inspect.getdoc(value), "```", ""]
    return "\n".join(lines)


def test_docs_api_md_is_current() -> None:
    assert (REPO / "docs/api.md").read_text() == render_api(), "docs/api.md is stale: run python tests/test_api.py"


if __name__ == "__main__":
    (REPO / "docs/api.md").write_text(render_api())


def test_the_readme_example_runs(tmp_path: Path) -> None:
    import re

    block = re.search(r"## In Python\n.*?```python\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL).group(1)
    assert len(block.strip().splitlines()) <= 5
    scope: dict = {}
    import contextlib

    with contextlib.chdir(tmp_path):
        exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    assert scope["shared"].shape == (4, 32) and (tmp_path / "my-bridge/bridge.json").is_file()


# -- what a hostile pass found (each a mechanism, tested on its cases) ---------------------------------------

def _linear(seed: int = 0) -> embridge.Bridge:
    x = np.random.default_rng(seed).normal(size=(200, 6)).astype(np.float32)
    return embridge.fit("linear", {"source": x, "target": x[:, :3]})


def test_save_never_replaces_what_is_not_a_bridge_nor_writes_an_unfitted_one(tmp_path: Path) -> None:
    bridge = _linear()
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "precious.txt").write_text("mine")
    for target in (tmp_path / "notes.txt", tmp_path / "folder"):
        with pytest.raises(BridgeError, match="not a bridge folder"):
            bridge.save(target)
    assert (tmp_path / "notes.txt").read_text() == (tmp_path / "folder/precious.txt").read_text() == "mine"
    with pytest.raises(BridgeError, match="name a folder"):
        bridge.save(".")
    bridge.save(tmp_path / "b")
    bridge.save(tmp_path / "b")  # a bridge folder is replaced whole
    assert oct((tmp_path / "b/weights.safetensors").stat().st_mode & 0o777) == \
        oct((tmp_path / "b/bridge.json").stat().st_mode & 0o777)
    with pytest.raises(BridgeError, match="not fitted"):
        bridge.set_params(alpha=500.0).save(tmp_path / "c")  # the card would name params the weights never saw
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("inputs,message", [
    ({"source": np.ones((300, 4)) + np.eye(300, 4), "target": np.ones((200, 4)) + np.eye(200, 4)},
     "have 300 and 200 rows"),
    ({"source": np.eye(50, 4) + 1, "target": np.eye(50, 4) + 1, "extra": np.eye(50, 4)}, r"inputs for \['extra'\]"),
    ({"source": np.ones((50, 4)), "target": np.eye(50, 4) + 1}, "all 50 rows are one vector"),
])
def test_fit_refuses_inputs_that_cannot_mean_what_they_say(inputs: dict, message: str) -> None:
    with pytest.raises(BridgeError, match=message):
        embridge.fit("linear", inputs)


@pytest.mark.parametrize("call,message", [
    (lambda: embridge.fit(None, {}), "method must be a name"),
    (lambda: embridge.fit("linear", [np.eye(3)]), "inputs must map role names"),
    (lambda: embridge.fit("linear", {"source": np.eye(3)}, spaces={"source": 3}), "spaces must map"),
    (lambda: embridge.fit("linear", {"source": np.eye(3), "target": np.eye(3)}, alpha=-1.0), "params.alpha"),
])
def test_fit_names_a_bad_argument(call, message: str) -> None:
    with pytest.raises(BridgeError, match=message):
        call()


BROKEN = """
import numpy as np
from embridge import Bridge, MethodParams


class Broken(Bridge):
    Params = MethodParams
    roles = ("source", "target")
    how = ""

    def _fit(self, inputs):
        self.w = {r: np.eye(v.vectors.shape[1], dtype=np.float32) for r, v in inputs.items()}

    def _transform(self, role, x):
        return np.vstack([x, x]) if self.how == "rows" else x @ self.w[role]

    def state(self):
        if self.how == "text":
            return {"w": "not an array"}
        return {} if self.how == "empty" else {f"m.{r}.weight": w for r, w in self.w.items()} | \\
            {f"m.{r}.bias": np.zeros(len(w), np.float32) for r, w in self.w.items()}

    def load_state(self, state):
        self.w = {r: state[f"m.{r}.weight"] for r in self.roles}

    def inference(self):
        return {r: [["linear", f"m.{r}"], ["normalize"]] for r in self.roles} if self.how == "graph" else None
"""


@pytest.mark.parametrize("how,when,message", [
    ("rows", "transform", "one row per input row"),
    ("graph", "save", "does not compute the method's transform"),
    ("text", "save", "not a numeric array"),
    ("empty", "save", "load_state.. cannot read what state.. returned"),
])
def test_a_user_method_that_misbehaves_is_refused_before_a_number_or_a_file(tmp_path: Path, monkeypatch, how: str,
                                                                          when: str, message: str) -> None:
    (tmp_path / f"broken_{how}.py").write_text(BROKEN.replace('how = ""', f"how = {how!r}"))
    monkeypatch.syspath_prepend(str(tmp_path))
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    bridge = embridge.fit(f"python:broken_{how}:Broken", {"source": x, "target": x})
    with pytest.raises(BridgeError, match=message):
        bridge.transform(x, role="source") if when == "transform" else bridge.save(tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_read_set_takes_one_split_as_a_string(tiny_set: Path) -> None:
    assert set(embridge.read_set(tiny_set, splits="train").splits.tolist()) == {"train"}


def test_a_frozen_bridge_is_not_saved_as_another(tmp_path: Path) -> None:
    """Its card would lose the method's params (a frozen load keeps only the graph and weights)."""
    x = np.random.default_rng(4).normal(size=(200, 8)).astype(np.float32)
    embridge.fit("textme", {"text": x, "modal": x + 1, "anchor": x[:, :4]}, epochs=1).save(tmp_path / "t")
    frozen = embridge.load(tmp_path / "t", frozen=True)
    with pytest.raises(BridgeError, match="loaded frozen .to transform only.: copy its folder"):
        frozen.save(tmp_path / "u")
    assert not (tmp_path / "u").exists()
