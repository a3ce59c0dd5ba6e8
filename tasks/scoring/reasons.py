"""Reasons per prediction (pure): how much each input moved one student's prediction, from the model itself.

Every method is *additive and exact*: the base value plus the contributions of the inputs is the model's own
output for that student (its margin), to floating-point precision, so a reason never explains a number the model
did not produce. One-hot columns are summed back into their field (``major``), so reasons name the inputs a
school sent.

- Linear models: coefficient x (the preprocessed input - its training mean). Numbers are already centred and
  scaled by the preprocessor; yes/no fields and categories are centred on their training shares, so the base
  value is the model's output for the average training student and a reason says "above/below average". Units:
  log-odds (logistic regression), points (least squares).
- XGBoost: TreeSHAP, computed by XGBoost itself (``pred_contribs``): Shapley values of the margin. Log-odds for a
  classifier, points for a regressor.
- Decision tree and random forest: the path decomposition (Saabas; the ``treeinterpreter`` method): walking a
  student's path from the root, each split's change of the node's value is credited to the split's feature; a
  forest averages its trees. Exact (the root's value plus the changes is the leaf's value), linear in the depth,
  no new dependency. Its known weakness against TreeSHAP: it credits the features split near the leaf more than
  Shapley values would (it is not consistent), so read it as "what this student's path went through". Units:
  probability of the positive class for a classifier, points for a regressor. (scikit-learn's trees have no
  TreeSHAP of their own; the ``shap`` package would add one, and a dependency.)
- The baseline predicts a constant: no input moves it, and the reasons say so (no contributions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from validation.contracts import model_inputs

TOP_REASONS = 5


@dataclass(frozen=True)
class Contributions:
    """Per student (rows) and input field (columns), how much each moved the model's output from ``base``."""

    values: pd.DataFrame
    base: np.ndarray  # per student (the same for every student: the method's starting point)
    units: str  # "log-odds", "probability" or "points"
    method: str  # "linear", "treeshap", "path" or "constant"

    @property
    def margin(self) -> np.ndarray:
        """The model's output the contributions add up to."""
        return self.base + self.values.to_numpy().sum(axis=1)


def input_fields(pre) -> list[str]:
    """For each column the fitted preprocessor makes, the input field it came from (one-hot columns of ``major``
    all come from ``major``); kept on the fitted preprocessor after the first use."""
    cached = getattr(pre, "_reason_fields_", None)
    if cached is not None:
        return cached
    fields = []
    for _, transformer, columns in pre.transformers_:
        if transformer == "drop" or not len(columns):
            continue
        if transformer == "passthrough":
            fields += list(columns)
            continue
        made = transformer.get_feature_names_out(list(columns))
        for name in made:
            fields.append(next((c for c in columns if name == c or name.startswith(f"{c}_")), str(name)))
    pre._reason_fields_ = fields
    return fields


def contributions(pipeline, frame: pd.DataFrame) -> Contributions:
    """Every student's contributions, by the method of the pipeline's model (see the module's docstring)."""
    pre, model = pipeline.named_steps["pre"], pipeline.named_steps["model"]
    inputs = model_inputs(pipeline, frame)
    X = np.asarray(pre.transform(inputs), dtype=float)
    fields = input_fields(pre)
    kind = type(model).__name__
    positive = _positive_index(model)
    if kind in ("LogisticRegression", "LinearRegression"):
        coef = np.ravel(model.coef_)
        means = getattr(pipeline, "input_means_", np.zeros(X.shape[1]))
        raw = coef * (X - means)
        base = float(np.ravel(model.intercept_)[0] + coef @ means)
        units, method = ("log-odds" if positive is not None else "points"), "linear"
    elif kind in ("XGBClassifier", "XGBRegressor"):
        import xgboost

        both = model.get_booster().predict(xgboost.DMatrix(X), pred_contribs=True)
        raw, base = both[:, :-1].astype(float), float(both[0, -1])
        units, method = ("log-odds" if positive is not None else "points"), "treeshap"
    elif kind in ("DecisionTreeClassifier", "DecisionTreeRegressor", "RandomForestClassifier",
                  "RandomForestRegressor"):
        steps, base = _path_steps(model, positive, X.shape[1])
        paths = model.decision_path(X.astype(np.float32))
        paths = paths[0] if isinstance(paths, tuple) else paths  # a forest: (indicator of every tree, offsets)
        raw = np.asarray((paths @ steps).todense())
        units, method = ("probability" if positive is not None else "points"), "path"
    else:  # the baseline: a constant
        raw = np.zeros_like(X)
        out = model.predict_proba(inputs)[:, positive] if positive is not None else model.predict(inputs)
        base = float(np.ravel(out)[0])
        units, method = ("probability" if positive is not None else "points"), "constant"
    names, fold = _folding(pipeline, fields, list(inputs.columns))
    return Contributions(pd.DataFrame(raw @ fold, columns=names), np.full(len(X), base), units, method)


def _folding(pipeline, fields: list[str], inputs: list[str]) -> tuple[list[str], np.ndarray]:
    """The input fields in the model's input order, and the 0/1 matrix that sums each preprocessed column into
    its field (one-hot columns into their category); kept on the fitted pipeline after the first use."""
    cached = getattr(pipeline, "_reason_folding_", None)
    if cached is not None and cached[0] == fields:
        return cached[1], cached[2]
    names = [name for name in inputs if name in fields]
    fold = np.zeros((len(fields), len(names)))
    for row, name in enumerate(fields):
        fold[row, names.index(name)] = 1.0
    pipeline._reason_folding_ = (fields, names, fold)
    return names, fold


def _positive_index(model) -> int | None:
    """The column of the positive class (True / 1) in a classifier's probabilities; None for a regressor."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    return int(np.flatnonzero(np.asarray(classes).astype(int) == 1)[0])


def _path_steps(model, positive: int | None, width: int) -> tuple[sparse.csr_matrix, float]:
    """For a tree or a forest: per node (of every tree, in the order ``decision_path`` lists them) the change of
    the node's value from its parent, in its parent's split feature's column, averaged over the trees; and the
    roots' mean value. A student's contributions are then their path indicator times this matrix. Computed once
    per fitted model and kept on it (a fitted model never changes)."""
    cached = getattr(model, "_reason_steps_", None)
    if cached is not None and cached[0] == positive:
        return cached[1], cached[2]
    trees = getattr(model, "estimators_", [model])
    parts = [_tree_steps(tree, positive, width) for tree in trees]
    steps = sparse.vstack([part for part, _ in parts]).tocsr() / len(trees)
    base = float(np.mean([root for _, root in parts]))
    model._reason_steps_ = (positive, steps, base)
    return steps, base


def _tree_steps(tree, positive: int | None, width: int) -> tuple[sparse.csr_matrix, float]:
    """One tree's path decomposition: each split's change of the node value, credited to its feature."""
    structure = tree.tree_
    value = structure.value[:, 0, :]
    # a classifier's node value: its share of the positive class
    value = value[:, positive] / value.sum(axis=1) if positive is not None else value[:, 0]
    parent = np.full(structure.node_count, -1)
    for side in (structure.children_left, structure.children_right):
        inner = side >= 0
        parent[side[inner]] = np.flatnonzero(inner)
    child = np.flatnonzero(parent >= 0)
    steps = sparse.csr_matrix((value[child] - value[parent[child]], (child, structure.feature[parent[child]])),
                              shape=(structure.node_count, width))
    return steps, float(value[0])


def top_reasons(found: Contributions, frame: pd.DataFrame, top: int = TOP_REASONS) -> list[dict]:
    """Per student, the ``top`` inputs that moved the prediction most (either way), each with the student's value,
    and the base and margin they add up to."""
    names = list(found.values.columns)
    values = found.values.to_numpy()
    columns = {name: frame[name].tolist() for name in names}
    margins = found.margin
    out = []
    for i, row in enumerate(values):
        order = np.argsort(-np.abs(row), kind="stable")[:top]
        out.append({"base": round(float(found.base[i]), 6), "margin": round(float(margins[i]), 6),
                    "units": found.units, "method": found.method,
                    "reasons": [{"feature": names[j], "value": _plain(columns[names[j]][i]),
                                 "contribution": round(float(row[j]), 6)} for j in order if row[j] != 0]})
    return out


def _plain(value):
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return value.item() if isinstance(value, np.generic) else value
