"""The monitoring drill's Prefect tasks: a throwaway database on the configured server, a champion trained there
on a reference batch, and each scenario's batches through the real feature aggregation, the real drift check and
the real label-free estimate, then against their labels.

Nothing here writes to the pipeline's own database, raises an alert or emits the drift event: a drill that
started retraining runs would be a fire, not a drill. The throwaway database is dropped when the drill ends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pandas as pd
from prefect import task

from infra.collections import MODELS, STUDENTS_FEATURES, STUDENTS_RAW, ensure_indexes
from infra.progress import run_logger
from infra.retry import DB_TASK
from infra.settings import get_settings
from infra.storage import Db, get_database
from infra.writes import merge_pipeline_output
from tasks.data.features import feature_pipeline
from tasks.data.synthetic import DriftKnobs, generate_batch
from tasks.monitoring.drift import detect_drift
from tasks.monitoring.drill import SCENARIOS, DrillRun
from tasks.monitoring.estimate import expected_accuracy
from tasks.monitoring.live import check_predictions
from tasks.monitoring.params import DrillParams
from tasks.registry.records import model_calibration, reference_frame
from tasks.registry.store import CHAMPION, get_alias
from tasks.scoring.predict import predict_frame
from tasks.training.dataset import make_training_data
from tasks.training.models import fit_model
from tasks.training.params import TrainingParams
from validation.contracts import BOOLEAN, CATEGORICAL, NUMERIC, TARGETS
from validation.features import features_frame

PROBLEM = "classification"  # the label-free estimate is for classifiers (see tasks/monitoring/estimate.py)
REFERENCE_PARTS = ("val", "test")  # as the registry keeps them: the held-out parts are the drift reference


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

    def describe(self) -> dict:
        """What the scorecard says about the champion."""
        return {"algorithm": self.algorithm, "test_accuracy": round(self.test_accuracy, 4),
                "calibration": (self.calibration or {}).get("method", "none"),
                "reference_rows": len(self.reference), "reference_batch": self.reference_batch}


def drill_database_name() -> str:
    """A fresh database name beside the pipeline's own (``<MONGO_DB>_drill_<8 hex>``)."""
    return f"{get_settings().mongo_db}_drill_{uuid.uuid4().hex[:8]}"


def drill_database(name: str) -> Db:
    """The throwaway database, on the same server (same client) as the pipeline's own."""
    if not name.startswith(f"{get_settings().mongo_db}_drill_"):
        raise ValueError(f"{name!r} is not a drill database; the drill only writes to databases it named")
    return get_database().client[name]


def featurize(db: Db, records: list[dict], batch_id: str, seq: int) -> pd.DataFrame:
    """Raw records to checked features through the pipeline's own aggregation and ``$merge``, then cleared."""
    ensure_indexes(db, [STUDENTS_FEATURES])
    db[STUDENTS_RAW].delete_many({"batch_id": batch_id})  # a retried task starts clean
    db[STUDENTS_RAW].insert_many([{**record, "batch_id": batch_id} for record in records], ordered=False)
    merge_pipeline_output(db, STUDENTS_RAW, feature_pipeline(batch_id, seq, labeled=True), STUDENTS_FEATURES,
                          "student_id", keep_newer="batch_seq")
    frame = features_frame(list(db[STUDENTS_FEATURES].find({"batch_id": batch_id}, {"_id": 0})))
    db[STUDENTS_RAW].delete_many({"batch_id": batch_id})
    db[STUDENTS_FEATURES].delete_many({"batch_id": batch_id})
    return frame


def champion_algorithm() -> str:
    """The pipeline's current champion's algorithm (read only), or linear when there is none."""
    db = get_database()
    champion = get_alias(db, TARGETS[PROBLEM], CHAMPION)
    doc = champion and db[MODELS].find_one({"name": TARGETS[PROBLEM], "version": champion["version"]},
                                           {"algorithm": 1})
    return doc["algorithm"] if doc else "linear"


@task(name="drill-champion", **DB_TASK)
def train_drill_champion(database: str, params: DrillParams) -> DrillChampion:
    """Generate the reference batch, aggregate it in the throwaway database, and train the champion as training
    does (same split, same preprocessing, same calibration, held-out parts as the reference)."""
    db = drill_database(database)
    algorithm = params.algorithm or champion_algorithm()
    batch = generate_batch(params.reference_students, params.first_seed, labeled=True)
    frame = featurize(db, batch.records, batch.batch_id, seq=0)
    training = TrainingParams(problem=PROBLEM)
    data = make_training_data(frame, pd.DataFrame(batch.truth), PROBLEM, training.split_seed, training.val_size,
                              training.test_size, training.min_rows)
    model = fit_model(algorithm, data, training.split_seed, training.models, False, training.trees).pipeline
    accuracy = float((model.predict(data.X["test"]) == data.y["test"]).mean())
    champion = DrillChampion(algorithm, model, model_calibration(model, data),
                             reference_frame(model, data, REFERENCE_PARTS), accuracy, batch.batch_id)
    run_logger(__name__).info("drill champion: %s", champion.describe())
    return champion


@task(name="drill-scenario", **DB_TASK)
def run_drill_scenario(database: str, scenario: str, seeds: list[int], params: DrillParams,
                       champion: DrillChampion) -> list[DrillRun]:
    """One scenario on a batch per seed: features in MongoDB, predictions, the drift check (distributions, missing
    shares, predicted classes) and the label-free estimate, then the accuracy the labels realise."""
    db = drill_database(database)
    knobs: DriftKnobs = SCENARIOS[scenario].knobs
    target = TARGETS[PROBLEM]
    runs = []
    for index, seed in enumerate(seeds, start=1):
        batch = generate_batch(params.students, seed, labeled=True, knobs=knobs)
        frame = featurize(db, batch.records, batch.batch_id, seq=index)
        predicted = predict_frame(champion.pipeline, frame, PROBLEM)
        report = detect_drift(champion.reference, frame, NUMERIC, BOOLEAN + CATEGORICAL, params.drift_check)
        predictions = check_predictions(champion.reference["prediction"], predicted["prediction"].tolist(), PROBLEM,
                                        report.status, params.drift_check)
        found = expected_accuracy(predicted["prediction"], predicted["probability"], champion.calibration,
                                  params.estimate.estimate_level)
        realised = float((predicted["prediction"].to_numpy() == frame[target].astype(int).to_numpy()).mean())
        significant = [f.feature for f in report.features if f.significant and not f.material]
        significant += [f"{m.feature} (missing)" for m in report.missing.features if m.significant and not m.drifted]
        runs.append(DrillRun(scenario, seed, len(frame), report.status, report.drifted, significant,
                             report.missing.drifted,
                             bool(predictions and predictions["drifted"]), found.value, found.low, found.high,
                             realised))
    flagged = sum(run.flagged for run in runs)
    run_logger(__name__).info("drill %s: flagged %d/%d, estimate error %s", scenario, flagged, len(runs),
                              [round(run.error, 4) for run in runs])
    return runs


@task(name="drop-drill-database", **DB_TASK)
def drop_drill_database(database: str) -> None:
    """Drop the throwaway database (also after a failed drill)."""
    db = drill_database(database)
    db.client.drop_database(database)
