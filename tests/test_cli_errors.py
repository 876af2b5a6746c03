"""Bad params give one clear line naming the key, and exit code 2; --debug gives the traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from embridge.core.errors import BridgeError
from embridge.stages.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["bridge", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


def params_with(tmp_path: Path, edit) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    edit(params)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _set(keys: str, value):
    def edit(params):
        node = params
        *parents, leaf = keys.split(".")
        for k in parents:
            node = node[k]
        node[leaf] = value
    return edit


def _delete(keys: str):
    def edit(params):
        node = params
        *parents, leaf = keys.split(".")
        for k in parents:
            node = node[k]
        del node[leaf]
    return edit


CASES = [
    ("wrong type", _set("extract.batch_size", "fast"),
     "params.yaml: extract.batch_size: expected an integer, got 'fast'"),
    ("misspelled key", _set("extract.shard_row", 10),
     "params.yaml: extract.shard_row: unknown key (did you mean 'shard_rows'?)"),
    ("misspelled section", _set("fitt", {}), "params.yaml: fitt: unknown key (did you mean 'fit'?)"),
    ("bad choice", _set("extract.format", "parket"),
     "params.yaml: extract.format: expected one of 'parquet' or 'hdf5', got 'parket' (did you mean 'parquet'?)"),
    ("unknown method", _set("fit.bridges.clip-offset.method", "ofset"),
     "params.yaml: fit.bridges.clip-offset.method: unknown bridge method 'ofset' (did you mean 'offset'?)"),
    ("method param wrong type", _set("fit.bridges.clip-linear.params.alpha", "fast"),
     "params.yaml: fit.bridges.clip-linear.params.alpha: expected a number, got 'fast'"),
    ("method param unknown", _set("fit.bridges.clip-offset.params.mod", "center"),
     "params.yaml: fit.bridges.clip-offset.params.mod: unknown key (did you mean 'mode'?)"),
    ("unknown encoder family", _set("encoders.syn-clip.model", "synthetc:bimodal"),
     ("params.yaml: encoders.syn-clip.model: unknown encoder family 'synthetc' in 'synthetc:bimodal' "
      "(did you mean 'synthetic'?)")),
    ("unknown encoder name", _set("extract.sets.synth-clip-text.encoder", "syn-clipp"),
     "params.yaml: extract.sets.synth-clip-text.encoder: unknown encoder 'syn-clipp' (did you mean 'syn-clip'?)"),
    ("unknown dataset", _set("extract.sets.synth-clip-text.dataset", "synht"),
     "params.yaml: extract.sets.synth-clip-text.dataset: unknown dataset 'synht' (did you mean 'synth'?)"),
    ("bridge input not extracted", _set("fit.bridges.clip-linear.inputs.source", "synth-clip-imag"),
     ("params.yaml: fit.bridges.clip-linear.inputs.source: unknown embedding set 'synth-clip-imag' "
      "(did you mean 'synth-clip-image'?)")),
    ("task names a missing bridge", _set("eval.tasks.clip-zeroshot-offset.query.bridge", "clip-ofset"),
     ("params.yaml: eval.tasks.clip-zeroshot-offset.query.bridge: unknown bridge 'clip-ofset' "
      "(did you mean 'clip-offset'?)")),
    ("missing required key", _delete("fit.bridges.clip-linear.method"),
     "params.yaml: fit.bridges.clip-linear.method: required key is missing"),
    ("negative size", _set("extract.shard_rows", -5),
     "params.yaml: extract.shard_rows: Input should be greater than 0, got -5"),
]


@pytest.mark.parametrize("kind,edit,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_params_give_one_line(tmp_path, monkeypatch, capsys, kind, edit, expected) -> None:
    path = params_with(tmp_path, edit)
    code, err = run_cli(["fit", "--params", str(path)], monkeypatch, capsys)
    assert code == 2
    line = " ".join(err.split())  # rich may wrap long lines on narrow terminals
    assert line == f"error: {tmp_path!s}/{expected}"


def test_missing_params_file_and_bad_yaml(tmp_path, monkeypatch, capsys) -> None:
    code, err = run_cli(["fit", "--params", str(tmp_path / "nope.yaml")], monkeypatch, capsys)
    assert code == 2 and "nope.yaml: params file not found" in err
    (tmp_path / "bad.yaml").write_text("fit: [unclosed\n")
    code, err = run_cli(["fit", "--params", str(tmp_path / "bad.yaml")], monkeypatch, capsys)
    assert code == 2 and "bad.yaml: not valid YAML at line" in err


def test_override_of_a_single_key_is_validated(monkeypatch, capsys) -> None:
    code, err = run_cli(["fit", "--params", str(REPO / "params.yaml"), "--set", "extract.dtype=float64"],
                        monkeypatch, capsys)
    assert code == 2 and "extract.dtype: expected one of 'float16' or 'float32', got 'float64'" in err


def test_debug_shows_the_traceback(tmp_path, monkeypatch) -> None:
    path = params_with(tmp_path, _set("extract.batch_size", "fast"))
    monkeypatch.setattr(sys, "argv", ["bridge", "--debug", "fit", "--params", str(path)])
    with pytest.raises(BridgeError, match="extract.batch_size"):
        main()
