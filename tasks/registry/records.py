"""What the registry stores for a trained model (pure): its version document (with the calibration of a
classifier's probabilities, for label-free estimates), and its drift reference (its held-out data: features,
the label and the model's own predictions)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.registry.calibration import fit_calibration
from tasks.registry.loss import fit_loss_model
from tasks.training.dataset import TrainingData
from tasks.training.models import TrainedModel
from tasks.training.results import Evaluation
from validation.contracts import problem_spec


def common_record(data: TrainingData, evaluation: Evaluation, split_id: str, code: dict,
                  flow_run_id: str | None) -> dict:
    """What every version trained in one run shares: problem, schema, lineage, oracle and baseline."""
    baseline = next((row for row in evaluation.models if row["algorithm"] == "baseline"), {})
    return {"problem": data.problem, "target": data.target, "code_version": code,
            "label_rule": data.lineage.get("label_rule"),
            "feature_schema": data.contract.as_dict(),  # its inputs, checked on every read and request
            "lineage": {**data.lineage, "split_id": split_id},
            "oracle": evaluation.oracle, "baseline": {k: baseline.get(k) for k in ("val", "test")},
            "flow_run_id": flow_run_id}


def version_record(model: TrainedModel, row: dict, common: dict, identity: str,
                   calibration: dict | None = None) -> dict:
    """One version's document: parameters, metrics, importance (a list: data values never become field
    names), training time, the calibration of its probabilities and, for the forest, its growth curve."""
    return {**common, "identity": identity, "algorithm": model.algorithm, "params": model.params,
            "metrics": {"val": row["val"], "test": row["test"], **({"cv": row["cv"]} if row.get("cv") else {}),
                        **({"skill": row["skill"]} if row.get("skill") else {})},  # accuracy against the base rate
            "importance": {kind: [{"feature": feature, "value": value} for feature, value in values.items()]
                           for kind, values in row["importance"].items()},
            "train_seconds": model.seconds, "curve": model.curve, "calibration": calibration}


def model_calibration(model, data: TrainingData, parts: tuple[str, ...] = ("val", "test")) -> dict | None:
    """What a label-free estimate needs, fitted on the held-out parts (never trained on): a classifier's
    probability calibration, chosen by cross-validation; a regressor's loss model (attached to ``model``:
    tasks/registry/loss.py), with its summary."""
    if not problem_spec(data.problem).classifies:
        if not hasattr(model, "named_steps"):
            return None
        return fit_loss_model(model, pd.concat([data.X[part] for part in parts], ignore_index=True),
                              pd.concat([data.y[part] for part in parts], ignore_index=True))
    probabilities = model.predict_proba(pd.concat([data.X[part] for part in parts], ignore_index=True))
    labels = pd.concat([data.y[part] for part in parts], ignore_index=True)
    return fit_calibration(probabilities[:, 1], labels, model.classes_[probabilities.argmax(axis=1)])


def reference_frame(model, data: TrainingData, parts: tuple[str, ...],
                    predicted: tuple[str, ...] | None = None) -> pd.DataFrame:
    """A model's drift reference: the features and label of ``parts``, and the model's predictions on the rows of
    ``predicted`` (its held-out parts; all of ``parts`` by default). Feature drift may be measured against rows the
    model trained on (fitting does not change a row's features, and more rows see smaller shifts), but its
    predictions on them are fitted, not predicted: the predicted-class check reads held-out rows only."""
    predicted = parts if predicted is None else predicted
    frame = pd.concat([data.X[part] for part in parts], ignore_index=True)
    frame[data.target] = pd.concat([data.y[part] for part in parts], ignore_index=True).to_numpy()
    held_out = np.concatenate([np.full(len(data.X[part]), part in predicted) for part in parts])
    predictions = model.predict(frame.loc[held_out, data.X[parts[0]].columns]) if held_out.any() else np.array([])
    # classes stay whole numbers beside the gaps (1, not 1.0: the predicted-class check compares them as text)
    classifies = problem_spec(data.problem).classifies
    column = pd.Series(pd.NA if classifies else np.nan, index=frame.index, dtype="Int64" if classifies else float)
    column[held_out] = predictions.astype(int) if classifies else predictions
    frame["prediction"] = column
    return frame
