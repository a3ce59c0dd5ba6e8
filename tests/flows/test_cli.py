"""The command line over a flow's parameter model (pure): every nested field an option, given options rebuilt
into the model, bad values refused by the model with the option's name, expected failures as one error line."""

from __future__ import annotations

import argparse

import pytest

from flows.cli import add_model_options, params_from_args, run_cli
from flows.params import RetrainParams, ScoreParams
from infra.errors import UserError

pytestmark = pytest.mark.pure


def parse(model, argv: list[str]):
    parser = argparse.ArgumentParser()
    add_model_options(parser, model)
    return params_from_args(model, parser.parse_args(argv))


def test_nested_fields_are_options_and_only_given_ones_are_set():
    params = parse(RetrainParams, ["--students", "300", "--min-live-rows", "50", "--grade-inflation", "5", "--force",
                                   "--algorithms", "linear", "xgboost"])
    assert params.students == 300 and params.live.min_live_rows == 50 and params.drift.grade_inflation == 5
    assert params.force is True and params.training.algorithms == ["linear", "xgboost"]
    assert params.live.max_live_drop == RetrainParams().live.max_live_drop  # untouched: the model's default
    assert parse(ScoreParams, []) == ScoreParams()


def flow_that(raises: Exception | None):
    def flow(params):
        if raises:
            raise raises
        return {"ok": True, "students": params.students}
    return flow


def test_a_user_error_is_one_error_line_and_exit_code_1(capsys):
    code = run_cli(flow_that(UserError("the file data.json does not exist")), ScoreParams, str, "d", ["--students",
                                                                                                     "5"])
    captured = capsys.readouterr()
    assert code == 1 and captured.err.strip().splitlines()[-1] == "error: the file data.json does not exist"


def test_a_bad_value_is_refused_with_the_options_name(capsys):
    with pytest.raises(SystemExit) as stopped:
        run_cli(flow_that(None), ScoreParams, str, "d", ["--students", "0"])
    assert stopped.value.code == 2 and "--students: Input should be greater than or equal to 1" in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):  # a list option's bad element: the option and the value, not its position
        run_cli(flow_that(None), ScoreParams, str, "d", ["--segment-metrics", "recall", "bogus"])
    assert "--segment-metrics: Input should be 'recall', 'accuracy', 'fpr' or 'selection_rate' (got 'bogus')" in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli(flow_that(None), ScoreParams, str, "d", ["--segment-tolerance", "0.2"])
    assert "the material gap (--max-segment-gap 0.05) is below the tolerance (--segment-tolerance 0.2)" in \
        capsys.readouterr().err


def test_json_is_the_last_line(capsys):
    assert run_cli(flow_that(None), ScoreParams, lambda s: f"students {s['students']}", "d",
                   ["--students", "7", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("starting ") and out[1:] == ["students 7", '{"ok": true, "students": 7}']


def test_the_first_line_says_what_starts_and_never_a_credential(capsys, monkeypatch):
    password = "made-up-for-this-test"
    monkeypatch.setenv("MONGO_URI", f"mongodb://admin:{password}@db.example.com:27017/")
    monkeypatch.setenv("PREFECT_API_URL", f"https://me:{password}@prefect.example.com:4200/api")
    run_cli(flow_that(None), ScoreParams, str, "d", [])
    first = capsys.readouterr().out.splitlines()[0]
    assert "db.example.com" in first and "prefect.example.com:4200" in first and password not in first


def test_a_store_that_stays_down_past_the_retries_is_one_error_line_naming_it(capsys, monkeypatch):
    from pymongo.errors import ServerSelectionTimeoutError

    password = "made-up-for-this-test"  # a made-up credential: the error line must never show it
    monkeypatch.setenv("MONGO_URI", f"mongodb://admin:{password}@db.example.com:27017/?authSource=admin")
    code = run_cli(flow_that(ServerSelectionTimeoutError("db.example.com:27017: timed out")), ScoreParams, str, "d",
                   argv=[])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("error: MongoDB at mongodb://")
    assert "stopped answering during the run" in err[0] and "ServerSelectionTimeoutError" in err[0]
    assert password not in err[0] and "db.example.com" in err[0]


def test_flows_give_prefects_temporary_server_time_to_start_unless_told_otherwise(monkeypatch, capsys):
    from prefect.settings import get_current_settings

    def flow(params):
        return {"timeout": get_current_settings().server.ephemeral.startup_timeout_seconds}

    monkeypatch.delenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", raising=False)
    assert run_cli(flow, ScoreParams, lambda s: str(s["timeout"]), "d", argv=[]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "180"
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "45")  # the user's own wins
    assert run_cli(flow, ScoreParams, lambda s: "given", "d", argv=[]) == 0


def test_a_typo_and_a_missing_file_are_a_line_or_two_before_anything_starts(capsys, tmp_path):
    ran = []
    with pytest.raises(SystemExit):
        run_cli(lambda p: ran.append(p), ScoreParams, str, "d", argv=["--studnets", "5"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].endswith("[options]  (--help lists them)") and "--studnets" in err[1]
    assert run_cli(lambda p: ran.append(p), ScoreParams, str, "d", argv=["--source", str(tmp_path / "no.csv")]) == 1
    said = capsys.readouterr().err.strip()
    assert said == f"error: source file not found: {tmp_path / 'no.csv'} (--source)" and ran == []


@pytest.mark.parametrize("script", ["main", "score", "retrain", "rollback", "drill"])
def test_help_is_answered_before_the_heavy_libraries_load(script):
    """`--help` lists the options without Prefect, the store's driver, the statistics or the model libraries (a
    contributor's first command; benchmarks/bench_first_hour.py measures its CPU)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-X", "importtime", f"flows/{script}.py", "--help"], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--json" in done.stdout
    loaded = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert {"prefect", "pymongo", "scipy", "sklearn", "great_expectations", "xgboost"}.isdisjoint(loaded)
