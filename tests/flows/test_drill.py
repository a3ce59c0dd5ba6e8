"""The monitoring drill as a flow run: a scorecard row per scenario, from a throwaway database that is gone
afterwards, with the pipeline's own data, alerts and events untouched."""

from __future__ import annotations

import json

import pytest

from flows.drill import drill_flow
from flows.drill import main as drill_main
from tasks.monitoring.drill import SCENARIOS
from tasks.monitoring.params import DrillParams

SMALL = {"seeds": 1, "students": 600, "reference_students": 1500}


def test_the_drill_scores_every_scenario_and_leaves_nothing_behind(db, monkeypatch):
    import prefect.events
    from prefect.artifacts import Artifact

    events = []
    monkeypatch.setattr(prefect.events, "emit_event", lambda **kwargs: events.append(kwargs))
    for left in ("deadbeef", "20260101000000_deadbeef"):  # what drills killed with -9 left behind
        db.client[f"{db.name}_drill_{left}"]["students_raw"].insert_one({"left": True})
    summary = drill_flow(DrillParams(**SMALL))
    rows = {row["scenario"]: row for row in summary["scorecard"]}
    assert list(rows) == list(SCENARIOS) and all(row["runs"] == 1 for row in rows.values())
    assert len(summary["runs"]) == len(SCENARIOS) and {r["rows"] for r in summary["runs"]} == {600}
    assert summary["champion"]["algorithm"] == "linear"  # no champion in this store
    assert summary["champion"]["reference_rows"] == 1500  # every student's features, as main's champion keeps
    assert rows["no_drift"]["flagged"] == 0 and rows["no_drift"]["verdict"] == "false alarms 0/1"
    assert rows["grade_inflation_10"]["verdict"] == "detected 1/1" and "avg_grade 1/1" in \
        rows["grade_inflation_10"]["features_named"]
    assert rows["major_shift"]["features_named"].startswith("major 1/1")
    assert "study_hours (missing) 1/1" in rows["missing_values"]["features_named"]
    # how study hours and attendance relate changed, and nothing else: the multivariate check names it alone
    assert rows["habits_decoupled"]["verdict"] == "detected 1/1"
    assert rows["habits_decoupled"]["features_named"] == "numeric features (together) 1/1"
    # a regressor's MAE, estimated without labels (DLE), beside what the labels realised, on every scenario
    assert abs(rows["no_drift"]["mae_estimate_relative_error"]) < 0.15
    assert rows["no_drift"]["mae_inside_interval"] in (0.0, 1.0) and summary["champion"]["regressor"]
    assert rows["concept_drift"]["flagged"] == 0 and rows["concept_drift"]["estimate_error_mean"] > 0.02
    assert abs(rows["no_drift"]["estimate_error_mean"]) < 0.04
    # the drill wrote nothing of the pipeline's own, raised no alert, emitted no event, and dropped its database
    assert db.list_collection_names() == [] and events == []
    assert not [name for name in db.client.list_database_names() if name.startswith(f"{db.name}_drill_")]
    assert summary["database"].startswith(f"{db.name}_drill_") and summary["database"].endswith("(dropped)")
    table = Artifact.get("drill-scorecard")
    assert table is not None and "grade_inflation_10" in str(table.data)


def test_the_drill_command_prints_the_scorecard_and_json_last(db, capsys):
    assert drill_main(["--seeds", "1", "--students", "500", "--reference-students", "1000",
                       "--scenarios", "no_drift", "age_shift", "--algorithm", "xgboost", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert [row["scenario"] for row in summary["scorecard"]] == ["no_drift", "age_shift"]
    assert summary["champion"]["algorithm"] == "xgboost"
    assert any(line.startswith("age_shift") and "detected 1/1" in line for line in out)


@pytest.mark.parametrize(("argv", "message"), [
    (["--scenarios", "earthquake"], "unknown scenarios ['earthquake']"),
    (["--seeds", "0"], "--seeds"),
    (["--algorithm", "baseline"], "unknown algorithm 'baseline'"),
])
def test_bad_drill_parameters_are_refused_before_anything_runs(db, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        drill_main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.pure
def test_only_drill_databases_left_behind_are_dropped():
    from datetime import UTC, datetime

    from tasks.monitoring.drill_tasks import leftover

    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    names = ["p_drill_1a2b3c4d", "p_drill_20261202093000_1a2b3c4d", "p_drill_20261202113000_1a2b3c4d",
             "p", "p_other", "q_drill_1a2b3c4d", "p_drillx_20200101000000_aa"]
    assert leftover(names, "p_drill_", now) == ["p_drill_1a2b3c4d", "p_drill_20261202093000_1a2b3c4d"]


@pytest.mark.slow
def test_the_drill_names_a_recall_only_gap_by_recall_and_scores_the_estimate_beside_it(db):
    """First-generation students do better than their records show: the model misses more of their high performers
    while their accuracy stays about the same. Recall per group names them (from the second batch on, pooled with
    the scenario's earlier ones, as live performance pools a window of labeled batches); accuracy does not; the
    label-free estimate per group, which only sees records move, does not either."""
    summary = drill_flow(DrillParams(scenarios=["first_generation_recall"], seeds=3, students=2000,
                                     reference_students=2000))
    [row] = summary["scorecard"]
    named = [run["groups"] for run in summary["runs"]]
    assert sum("first_generation=yes (recall)" in groups for groups in named) >= 2
    assert not any("first_generation=yes (accuracy)" in groups for groups in named)
    assert row["verdict"].endswith("on labels, 0/3 before them") and row["groups_estimated"] == "-"
