"""The monitoring drill's Prefect tasks: a throwaway database on the configured server, a champion trained there
on a reference batch, and each scenario's batches through the real feature aggregation, the real drift check and
the real label-free estimate, then against their labels.

Nothing here writes to the pipeline's own database, raises an alert or emits the drift event: a drill that
started retraining runs would be a fire, not a drill. The throwaway database is dropped when the drill ends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from prefect import task

from infra.progress import run_logger
from infra.retry import DB_TASK
from infra.settings import get_settings
from infra.storage import Db, get_database
from tasks.data.synthetic import DriftKnobs, generate_batch
from tasks.monitoring import store
from tasks.monitoring.drift import detect_drift, tagged
from tasks.monitoring.drill import SCENARIOS, DrillRun
from tasks.monitoring.estimate import expected_accuracy, expected_mae
from tasks.monitoring.params import DrillParams
from tasks.monitoring.segments import segment_gaps, two_looks, with_outcomes
from tasks.registry.calibration import apply_calibration, correct_probabilities
from tasks.registry.loss import predicted_errors
from tasks.registry.records import model_calibration, reference_frame
from tasks.registry.store import find_champion
from tasks.scoring.predict import predict_frame
from tasks.training.dataset import make_training_data
from tasks.training.models import fit_model
from tasks.training.params import TrainingParams
from validation.contracts import BOOLEAN, CATEGORICAL, NUMERIC, SEGMENTS, model_inputs, problem_spec
from validation.features import features_frame

PROBLEM = "classification"  # the label-free estimate is for classifiers (see tasks/monitoring/estimate.py)
REFERENCE_PARTS = ("val", "test")  # as main registers a champion: predictions on the held-out parts,
FEATURE_PARTS = ("train", "val", "test")  # features of every part as the drift reference


@dataclass
class DrillChampion:
    """The model the drill watches: trained on the reference batch like a registered champion, with the same
    calibration and the same kind of drift reference."""

    algorithm: str
    pipeline: object
    calibration: dict | None
    reference: pd.DataFrame
    test_accuracy: float
    reference_batch: str
    regressor: object = None  # a linear regressor of the final score with its loss model (DLE's drill row)
    loss: dict | None = None

    @property
    def outcomes(self) -> pd.DataFrame:
        """The held-out reference rows with whether the champion was right (each group's gap at registration)."""
        return with_outcomes(self.reference, problem_spec(PROBLEM).target, classifies=True)

    def describe(self) -> dict:
        """What the scorecard says about the champion."""
        return {"algorithm": self.algorithm, "test_accuracy": round(self.test_accuracy, 4),
                "calibration": (self.calibration or {}).get("method", "none"),
                "regressor": "linear with a loss model (DLE)" if self.regressor is not None else None,
                "reference_rows": len(self.reference), "reference_batch": self.reference_batch}


LEFTOVER_AFTER = timedelta(hours=2)  # a drill takes minutes: a drill database older than this was left behind


def drill_database_name(now: datetime | None = None) -> str:
    """A fresh database name beside the pipeline's own, with when it was made
    (``<MONGO_DB>_drill_<YYYYmmddHHMMSS>_<8 hex>``)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    return f"{get_settings().mongo_db}_drill_{stamp}_{uuid.uuid4().hex[:8]}"


def leftover(names: list[str], prefix: str, now: datetime) -> list[str]:
    """The drill databases among ``names`` that an earlier drill left behind (killed before it could drop them):
    made more than ``LEFTOVER_AFTER`` ago, or named before names carried their time."""
    found = []
    for name in names:
        if not name.startswith(prefix):
            continue
        stamp = name[len(prefix):].split("_")[0]
        try:
            made = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            found.append(name)  # <prefix><8 hex>: from before names carried their time
            continue
        if now - made > LEFTOVER_AFTER:
            found.append(name)
    return found


@task(name="drop-leftover-drill-databases", **DB_TASK)
def drop_leftover_drill_databases() -> list[str]:
    """Drop what earlier drills left behind (a drill killed with -9 never reaches its own clean-up)."""
    client = get_database().client
    names = leftover(store.database_names(client), f"{get_settings().mongo_db}_drill_", datetime.now(UTC))
    for name in names:
        store.drop_database(client[name])
    if names:
        run_logger(__name__).info("dropped %d drill database(s) left by earlier drills: %s", len(names),
                                  ", ".join(names))
    return names


def drill_database(name: str) -> Db:
    """The throwaway database, on the same server (same client) as the pipeline's own."""
    if not name.startswith(f"{get_settings().mongo_db}_drill_"):
        raise ValueError(f"{name!r} is not a drill database; the drill only writes to databases it named")
    return get_database().client[name]


def champion_algorithm() -> str:
    """The pipeline's current champion's algorithm (read only), or linear when there is none."""
    champion = find_champion(get_database(), problem_spec(PROBLEM).target)
    return champion.algorithm if champion else "linear"


@task(name="drill-champion", **DB_TASK)
def train_drill_champion(database: str, params: DrillParams) -> DrillChampion:
    """Generate the reference batch, aggregate it in the throwaway database, and train the champion as training
    does (same split, same preprocessing, same calibration, the same drift reference)."""
    db = drill_database(database)
    algorithm = params.algorithm or champion_algorithm()
    batch = generate_batch(params.reference_students, params.first_seed, labeled=True)
    frame = features_frame(store.featurize_throwaway(db, batch.records, batch.batch_id, seq=0))
    training = TrainingParams(problem=PROBLEM)
    data = make_training_data(frame, pd.DataFrame(batch.truth), PROBLEM, training.split_seed, training.val_size,
                              training.test_size, training.min_rows)
    model = fit_model(algorithm, data, training.split_seed, training.models, False, training.trees).pipeline
    accuracy = float((model.predict(data.X["test"]) == data.y["test"]).mean())
    scores = make_training_data(frame, pd.DataFrame(batch.truth), "regression", training.split_seed,
                                training.val_size, training.test_size, training.min_rows)
    regressor = fit_model("linear", scores, training.split_seed, training.models, False, training.trees).pipeline
    loss = model_calibration(regressor, scores)  # fits and attaches the loss model, as registration does
    champion = DrillChampion(algorithm, model, model_calibration(model, data),
                             reference_frame(model, data, FEATURE_PARTS, REFERENCE_PARTS), accuracy, batch.batch_id,
                             regressor, loss)
    run_logger(__name__).info("drill champion: %s", champion.describe())
    return champion


@task(name="drill-scenario", **DB_TASK)
def run_drill_scenario(database: str, scenario: str, seeds: list[int], params: DrillParams,
                       champion: DrillChampion) -> list[DrillRun]:
    """One scenario on a batch per seed: features in MongoDB, predictions, the drift check (distributions, missing
    shares, predicted classes) and the label-free estimate, then the accuracy the labels realise and the per-group
    check on them, as live performance makes it (this batch, and the window of the scenario's earlier batches, which
    stand for the earlier labeled batches of a world that stays changed)."""
    db = drill_database(database)
    knobs: DriftKnobs = SCENARIOS[scenario].knobs
    target = problem_spec(PROBLEM).target
    runs, earlier = [], []
    for index, seed in enumerate(seeds, start=1):
        batch = generate_batch(params.students, seed, labeled=True, knobs=knobs)
        frame = features_frame(store.featurize_throwaway(db, batch.records, batch.batch_id, seq=index))
        predicted = predict_frame(champion.pipeline, frame, PROBLEM)
        current = frame.assign(prediction=predicted["prediction"].to_numpy())  # the predicted-class check's input
        report = detect_drift(champion.reference, current, NUMERIC, BOOLEAN + CATEGORICAL, params.drift_check)
        found = expected_accuracy(predicted["prediction"], predicted["probability"], champion.calibration,
                                  params.estimate.estimate_level)
        realised = float((predicted["prediction"].to_numpy() == frame[target].astype(int).to_numpy()).mean())
        significant = [tagged(f.kind, f.feature) for f in report.findings
                       if f.significant and not f.material and f.kind in report.deciding]
        outcomes = with_outcomes(current, target, classifies=True)
        window = params.segments.segment_window - 1  # the scenario's earlier runs: the batches before this one
        groups = two_looks(outcomes, earlier[-window:] if window else [], SEGMENTS, params.segments, True,
                           champion.outcomes)
        earlier.append(outcomes)
        chance = correct_probabilities(predicted["prediction"],
                                       apply_calibration(champion.calibration, predicted["probability"]))
        estimated = segment_gaps(current.assign(chance=np.asarray(chance, dtype=float)), SEGMENTS, params.segments,
                                 "estimate", True)
        scores = champion.regressor.predict(model_inputs(champion.regressor, frame))
        mae = expected_mae(predicted_errors(champion.regressor, frame, scores), champion.loss,
                           params.estimate.estimate_level)
        named = tuple(dict.fromkeys(f"{g.name} ({g.metric})" for g in groups.material))
        runs.append(DrillRun(scenario, seed, len(frame), report.status, report.drifted, significant, found.value,
                             found.low, found.high, realised, named,
                             tuple(dict.fromkeys(g.name for g in estimated.material)),
                             (mae.value, mae.low, mae.high, float(np.abs(frame["final_score"] - scores).mean()))))
    flagged = sum(run.flagged for run in runs)
    run_logger(__name__).info("drill %s: flagged %d/%d, estimate error %s", scenario, flagged, len(runs),
                              [round(run.error, 4) for run in runs])
    return runs


@task(name="drop-drill-database", **DB_TASK)
def drop_drill_database(database: str) -> None:
    """Drop the throwaway database (also after a failed drill)."""
    store.drop_database(drill_database(database))
