"""Direct loss estimation for regression (pure apart from CPU time): a second model, fitted at registration on the
version's held-out rows (never trained on), predicts each student's absolute error from their inputs and the
version's prediction (NannyML's DLE). At scoring, the mean of those predictions estimates the batch's MAE without
labels; its interval counts the batch's own spread of errors (the loss model's cross-validated residual sd over
the batch's rows) and the loss model's own uncertainty (the same sd over the rows it was fitted on).

It tracks covariate shift within the training range (some students are harder to predict than others, and the
mix changes); like the classifier's estimate it cannot see concept drift (the outcome means something else now,
the inputs look as before): labels decide.

The loss model travels inside the version's pickled pipeline (``loss_model_``), so it is verified with the
version's SHA-256 like the model itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold, cross_val_predict

from validation.contracts import model_inputs

FOLDS = 5


def _loss_inputs(pipeline, frame: pd.DataFrame, predictions: np.ndarray) -> np.ndarray:
    """The preprocessed inputs and the version's prediction: what a student's error is predicted from."""
    transformed = np.asarray(pipeline.named_steps["pre"].transform(model_inputs(pipeline, frame)), dtype=float)
    return np.column_stack([transformed, predictions])


def _loss_model(seed: int = 0) -> HistGradientBoostingRegressor:
    # small and regularised: it is fitted on a version's held-out rows (hundreds to a few thousand)
    return HistGradientBoostingRegressor(max_depth=3, max_iter=150, learning_rate=0.05, min_samples_leaf=40,
                                         l2_regularization=1.0, random_state=seed)


def fit_loss_model(pipeline, X: pd.DataFrame, y: pd.Series, seed: int = 0) -> dict:
    """Fit the loss model on held-out rows and attach it to ``pipeline`` (``loss_model_``); what is stored with the
    version: the method, the rows, the cross-validated residual sd of the absolute errors, and the cross-validated
    estimate's bias over those rows (its mean predicted minus its mean realised absolute error)."""
    predictions = np.asarray(pipeline.predict(X), dtype=float)
    errors = np.abs(np.asarray(y, dtype=float) - predictions)
    inputs = _loss_inputs(pipeline, X, predictions)
    folds = KFold(FOLDS, shuffle=True, random_state=seed)
    crossed = cross_val_predict(_loss_model(seed), inputs, errors, cv=folds)
    pipeline.loss_model_ = _loss_model(seed).fit(inputs, errors)
    return {"method": "dle", "rows": len(errors), "residual_sd": float(np.std(errors - crossed, ddof=1)),
            "cv_bias": float(crossed.mean() - errors.mean()), "mae": float(errors.mean())}


def predicted_errors(pipeline, frame: pd.DataFrame, predictions) -> np.ndarray | None:
    """Each student's predicted absolute error (never below zero); None for a version without a loss model."""
    loss = getattr(pipeline, "loss_model_", None)
    if loss is None:
        return None
    return np.clip(loss.predict(_loss_inputs(pipeline, frame, np.asarray(predictions, dtype=float))), 0, None)
