"""report.yaml, the metrics it reads and the results page under hostile input: every wrong number is refused
in one line naming the file and key, only a task the project lacks is "not measured", and the markdown it
writes stays one line per row."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from embridge.core.config import TaskSpec
from embridge.core.errors import BridgeError
from embridge.papers import Measured, claim_rows, load_report_config, sweep_measured
from embridge.report import Row, main, markdown_table, seed_table, write_results_page


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # messages name files as the CLI does, relative to the project


def _config(tmp_path: Path, text: str | bytes):
    (tmp_path / "report.yaml").write_bytes(text if isinstance(text, bytes) else text.encode())
    return load_report_config(Path("."))


def _claims(claims: str, seeds: str = "") -> str:
    return "claims:\n  s:\n    title: T\n" + (f"    seeds: {seeds}\n" if seeds else "") + "    claims:\n" + claims


RATIO = """      - {paper: P, claim: R, measure: ratio, low: 0, high: 200,
         a: {task: a, metric: top1}, b: {task: b, metric: top1}}
"""
SEEDED = """      - {paper: P, claim: S, measure: value, low: 0, high: 1, a: {task: "t-s{seed}", metric: top1}}
"""
PLAIN = """      - {paper: P, claim: V, measure: value, low: 0, high: 1, digits: 3, a: {task: a, metric: top1}}
"""


def _error(call, *args) -> str:
    with pytest.raises(BridgeError) as e:
        call(*args)
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("seeds,where", [("[0, 0, 1]", "claims.s.seeds"), ("[2, 1, 2]", "claims.s.seeds")])
def test_a_seed_given_twice_is_refused(tmp_path: Path, seeds: str, where: str) -> None:
    assert f"report.yaml: {where}: seed " in _error(_config, tmp_path, _claims(SEEDED, seeds))
    claim_level = _claims(SEEDED.replace("}}\n", f"}}, seeds: {seeds}}}\n"))
    assert "claims.s.claims.0.seeds: seed" in _error(_config, tmp_path, claim_level)


def test_seeds_apply_only_where_a_task_holds_seed(tmp_path: Path) -> None:
    config = _config(tmp_path, _claims(PLAIN + SEEDED, "[3, 5]"))
    metrics = {"a": {"top1": 0.25}, "t-s3": {"top1": 0.5}, "t-s5": {"top1": 0.8}, "t-s0": {"top1": 0.0}}
    plain, seeded = claim_rows(metrics, "s", config)
    assert plain["ours"] == "0.250" and "seeds" not in plain["ours"]  # one task, read once: no "± 0.0 (2 seeds)"
    assert seeded["ours"] == f"0.6500 ± {np.std([0.5, 0.8], ddof=1):.4f} (2 seeds)"  # seeds 3 and 5, not 0
    for seeds in ("", "[]"):  # {seed} with no seeds: refused, not silently "not measured"
        message = _error(_config, tmp_path, _claims(SEEDED, seeds))
        assert message.startswith("report.yaml: claims.s.claims.0.a.task: 't-s{seed}' holds {seed}"), message


def test_only_a_task_the_project_lacks_is_not_measured(tmp_path: Path) -> None:
    config = _config(tmp_path, _claims(RATIO + SEEDED, "[0, 1]"))
    files = {"a": "m/a.json", "b": "m/b.json", "t-s0": "m/t-s0.json"}
    project = {"a": {"top1": 0.4}, "b": {"top1": 0.5}, "t-s0": {"top1": 0.3}}
    ratio, seeded = claim_rows(Measured(project, files), "s", config)
    assert ratio["ours"] == "80.0" and ratio["verdict"] == "reproduced"
    assert seeded["verdict"] == "not measured: its task t-s1 is not in params.yaml" and seeded["ours"] == ""
    assert claim_rows(Measured({}, {}), "s", config)[0]["verdict"] == "not measured: its tasks are not in params.yaml"
    # the task is there but not the metric: an error naming the key path and the file, never "not measured"
    message = _error(claim_rows, Measured({**project, "b": {"top5": 1.0}}, files), "s", config)
    assert message == "report.yaml: claims.s.claims.0.b.metric: m/b.json has no 'top1' (it has: top5)"


@pytest.mark.parametrize("value", [True, False, "0.9", None, math.nan, math.inf, -math.inf, [0.5]])
def test_a_metric_a_claim_reads_is_a_finite_real_number(tmp_path: Path, value) -> None:
    config = _config(tmp_path, _claims(RATIO))
    metrics = Measured({"a": {"top1": value}, "b": {"top1": 0.5}}, {"a": "artifacts/metrics/a.json", "b": "b.json"})
    message = _error(claim_rows, metrics, "s", config)
    assert message.startswith("artifacts/metrics/a.json: top1 is ") and "not a finite number" in message
    assert message.endswith("(read by report.yaml: claims.s.claims.0.a)")


@pytest.mark.parametrize("b,reason", [
    (0.0, "the ratio's denominator (b top1) is 0"), (-0.0, "the ratio's denominator (b top1) is 0"),
    (1e-310, "the ratio is not finite (0.4 and 1e-310)")])
def test_an_undefined_ratio_is_not_measured_and_says_why(tmp_path: Path, b: float, reason: str) -> None:
    config = _config(tmp_path, _claims(RATIO))
    row, = claim_rows(Measured({"a": {"top1": 0.4}, "b": {"top1": b}}, {}), "s", config)
    assert row["ours"] == "" and row["verdict"] == f"not measured: {reason}"


SWEEP = """sweeps:
  sw:
    path: s.csv
    title: S
    row: {setting: default, lam: {param: knob.lam}}
    table: [{header: gain, value: "{gain:+.1f}"}]
""" + _claims("""      - {paper: P, claim: W, measure: value, low: 0, high: 50, a: {task: sw, metric: gain}}
""")
CSV = "setting,lam,gain\ndefault,0.0,1.5\ndefault,0.1,22.5\nwide,0.1,30\n"


class Knob(BaseModel):
    knob: dict


@pytest.mark.parametrize("csv,lam,expected", [
    (CSV, 0.1, 22.5), (CSV, 0.0, 1.5),
    (None, 0.1, "not measured: sweep sw's table s.csv is absent (run its benchmark with --out)"),
    (CSV, 0.3, "report.yaml: claims.s.claims.0.a: sw: s.csv has no rows at setting = default, lam = 0.3"),
    (CSV + "default,0.1,99\n", 0.1, "report.yaml: claims.s.claims.0.a: sw: s.csv has 2 rows at setting"),
    (CSV, None, "report.yaml: claims.s.claims.0.a: sw: sweeps.sw.row.lam: params.yaml has no 'knob.lam'"),
    ("", 0.1, "s.csv: holds no rows"), ("setting,lam,gain\n", 0.1, "s.csv: holds no rows"),
    (CSV.replace("22.5", "nan"), 0.1, "s.csv: line 3: column 'gain' is 'nan', not a finite number"),
    (CSV.replace("default,0.0,1.5", "default,inf,1.5"), 0.1, "s.csv: line 2: column 'lam' is 'inf'"),
    (CSV.replace("22.5", ""), 0.1, "s.csv (row at setting = default, lam = 0.1): gain is '', not a finite"),
])
def test_a_claim_reads_one_sweep_row_or_says_exactly_why_not(tmp_path: Path, csv, lam, expected) -> None:
    config = _config(tmp_path, SWEEP)
    if csv is not None:
        (tmp_path / "s.csv").write_text(csv)
    params = Knob(knob={} if lam is None else {"lam": lam})
    if isinstance(expected, float):
        row, = claim_rows(sweep_measured(config, params), "s", config)
        assert row["ours"] == f"{expected:.4f}"
    elif expected.startswith("not measured"):
        row, = claim_rows(sweep_measured(config, params), "s", config)
        assert row["verdict"] == expected and row["ours"] == ""
    else:
        assert _error(lambda: claim_rows(sweep_measured(config, params), "s", config)).startswith(expected)


def test_a_sweep_named_like_a_task_is_refused() -> None:
    from embridge.papers import check_sweep_names

    config = load_report_config(Path(__file__).parent.parent)
    assert "emergent-sweep" in config.sweeps
    check_sweep_names(config, {"clip-gap": None})
    message = _error(check_sweep_names, config, {"emergent-sweep": None})
    assert message.endswith("report.yaml: sweeps.emergent-sweep: a task of params.yaml has this name too "
                            "(eval.tasks.emergent-sweep); claims read both by name, so rename the sweep")


@pytest.mark.parametrize("text,expected", [
    (_claims(PLAIN) + _claims(PLAIN), "report.yaml: not valid YAML at line 6: key 'claims' appears twice (lines 1 and 6)"),
    (_claims(PLAIN.replace("low: 0,", "low: 0, low: 1,")), "key 'low' appears twice"),
    (b"\xff\xfeclaims: {}\n", "report.yaml: not UTF-8 text (byte 0)"),
    (b"claims:\n  s:\n    title: caf\xe9\n", "report.yaml: not UTF-8 text (byte 27)"),
])
def test_report_yaml_refuses_duplicate_keys_and_bytes_that_are_not_utf8(tmp_path: Path, text, expected) -> None:
    assert expected in _error(_config, tmp_path, text)


@pytest.mark.parametrize("template,ok", [
    ("{gain:+.2f} ± {gain_std:.2f} %", True), ("{recall@1:.3f}", True), ("{{literal}} {gain}", True),
    ("{gain.__class__}", False), ("{gain[0]}", False), ("{gain!r}", False), ("{}", False), ("{0}", False),
    ("{gain:{width}}", False), ("{gain", False)])
def test_format_strings_hold_plain_fields_only(tmp_path: Path, template: str, ok: bool) -> None:
    for key in ("table", "about"):
        value = f"[{{header: h, value: {template!r}}}]" if key == "table" else repr(template)
        text = f"sweeps:\n  sw: {{path: s.csv, title: S, {key}: {value}}}\n"
        if ok:
            _config(tmp_path, text)
        else:
            assert _error(_config, tmp_path, text).startswith(
                "report.yaml: sweeps.sw." + ("table.0.value: " if key == "table" else "about: "))


def test_markdown_table_keeps_a_line_break_inside_its_cell() -> None:
    lines = markdown_table(["a\nb", "c|d"], [["x\ny", "1\r\n2"], ["p|q\rr", "3"]], "lr")
    assert lines == ["| a<br>b | c\\|d |", "| --- | ---: |", "| x<br>y | 1<br>2 |", "| p\\|q<br>r | 3 |"]


def _row(task: str, bridge: str, top1: float, sets: str = "q") -> Row:
    spec = TaskSpec(kind="zeroshot", query={"set": sets, "bridge": bridge}, gallery={"set": "g", "bridge": bridge})
    return Row(task, spec, {"top1": top1, "top5": 0.9, "balanced_accuracy": 0.5})


def test_seeds_are_averaged_only_when_everything_but_the_seed_agrees() -> None:
    apart = seed_table([_row("rs-s0", "pca-audio", 0.1), _row("rs-s1", "paired-audio", 0.3)])
    assert apart == []  # two experiments of one seed each: neither is averaged with the other
    alike = seed_table([_row(f"rs-s{k}", f"ridge-s{k}", v, f"data-s{k}-text") for k, v in ((0, 0.1), (1, 0.3))])
    assert [(r["task"], r["bridge"], r["top1"], r["seeds"]) for r in alike] == [
        ("rs", "ridge", f"0.2000 ± {np.std([0.1, 0.3], ddof=1):.4f}", "2")]
    split = seed_table([_row("rs-s0", "a", 0.1), _row("rs-s1", "b", 0.2), _row("rs-s2", "a", 0.5),
                        _row("rs-s3", "b", 0.4)])
    assert [(r["task"], r["bridge"], r["top1"][:6]) for r in split] == [("rs (seeds 0, 2)", "a", "0.3000"),
                                                                        ("rs (seeds 1, 3)", "b", "0.3000")]
    with pytest.raises(BridgeError, match=r"artifacts/metrics/rs-s1.json: top1 is 'True', not a finite number"):
        seed_table([_row("rs-s0", "a", 0.1), _row("rs-s1", "a", True)])


def _index(root: Path, text: str | bytes) -> Path:
    index = root / "artifacts/report/index.md"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_bytes(text if isinstance(text, bytes) else text.encode())
    return index


def test_the_results_command_parses_its_arguments(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _index(tmp_path, "# bridge report\n\n## Method by task\n\n| a |\n| --- |\n| 1 |\n")
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and "OUT" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main([])
    assert done.value.code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts"]  # no file named --help
    assert main(["page.md"]) == 0 and (tmp_path / "page.md").read_text().startswith("# Results of the default")


@pytest.mark.parametrize("out,index,expected", [
    ("artifacts/report/index.md", None, "artifacts/report/index.md: inside "),
    ("artifacts/other.md", None, "artifacts/other.md: inside "),
    ("sub", None, "sub: is a directory"),
    ("file/page.md", None, "file/page.md: cannot write"),
    ("page.md", "", "artifacts/report/index.md: holds no report"),
    ("page.md", "# bridge report\n\n", "artifacts/report/index.md: holds no report"),
    ("page.md", b"# bridge report\n\xff\n", "artifacts/report/index.md: not UTF-8 text"),
])
def test_the_results_page_refuses_bad_paths_in_one_line(tmp_path: Path, monkeypatch, capsys, out, index,
                                                         expected) -> None:
    monkeypatch.chdir(tmp_path)
    good = "# bridge report\n\n## Method by task\n"
    source = _index(tmp_path, good if index is None else index)
    (tmp_path / "sub").mkdir()
    (tmp_path / "file").write_text("x")
    assert main([out]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {expected}") and err.count("\n") == 1, err
    assert source.read_bytes() == (good.encode() if index is None else
                                   index if isinstance(index, bytes) else index.encode())  # its input is kept
    assert not (tmp_path / "page.md").exists()
    with pytest.raises(BridgeError):
        write_results_page(Path(out), tmp_path)


def test_a_sweep_read_at_a_bridge_the_project_lacks_is_not_measured(tmp_path: Path) -> None:
    """A cut-down project (a lane, a team's copy) shares report.yaml: a sweep read at a bridge it does not have
    is not measured, as a claim on an absent task is; a bridge it has without the key is still an error."""
    from embridge.core.config import Params

    config = _config(tmp_path, SWEEP.replace("knob.lam", "fit.bridges.emergent.params.lam"))
    (tmp_path / "s.csv").write_text(CSV)
    lacks = Params.model_validate({"fit": {"bridges": {}}})
    row, = claim_rows(sweep_measured(config, lacks), "s", config)
    assert row["ours"] == "" and row["verdict"] == ("not measured: sweep sw is read at "
                                                    "fit.bridges.emergent.params.lam, and fit.bridges.emergent is "
                                                    "not in params.yaml")
