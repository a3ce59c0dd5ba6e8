"""A request's features, computed in the service's own process from the feature contract's second definition
(``validation/pandas_twin.py``, promoted from a test oracle to the serving path): no round trip to the store per
request. The two definitions are held equal by a property test over generated, edge-case and hostile records
(``tests/tasks/serving/test_features_parity.py``) and, live, by re-computing a share of requests through the
store's own aggregation in the background (``api/parity.py``): any difference raises an alert. Pure."""

from __future__ import annotations

import math

import pandas as pd

from validation.contracts import DEFAULT_CONTRACT, FeatureContract
from validation.features import features_frame
from validation.pandas_twin import student_features

TOLERANCE = 1e-9  # relative: sums taken in another order differ in the last bits (measured: at most 1.4e-14)


def in_process_features(records: list[dict], request_id: str,
                        contract: FeatureContract = DEFAULT_CONTRACT) -> pd.DataFrame:
    """The features of a request's (valid) records, as ``request_features`` computes them in the store: the same
    columns, the same values (numbers equal within ``TOLERANCE``), checked against the contract the same way."""
    return features_frame([student_features(record, f"api:{request_id}", 0, labeled=False, contract=contract)
                           for record in records], contract)


def feature_differences(expected: pd.DataFrame, got: pd.DataFrame, limit: int = 20) -> list[dict]:
    """Where two feature frames of the same students disagree: (student, feature) with both values as text (a
    number off by more than ``TOLERANCE`` relative, a missing value on one side only, any other value unequal).
    A whole-number float equals the same integer (the store keeps whole grades as integers)."""
    if list(expected["student_id"]) != list(got["student_id"]):
        return [{"student_id": None, "feature": "student_id", "expected": str(list(expected["student_id"])[:5]),
                 "got": str(list(got["student_id"])[:5])}]
    out = []
    for column in expected.columns:
        for student, a, b in zip(expected["student_id"], expected[column], got[column], strict=True):
            if not same_value(a, b):
                out.append({"student_id": int(student), "feature": column, "expected": repr(a)[:40],
                            "got": repr(b)[:40]})
                if len(out) >= limit:
                    return out
    return out


def same_value(a, b) -> bool:
    """Whether two feature values are equal as the contract means it (numbers within ``TOLERANCE``, missing ==
    missing, a bool only equals a bool)."""
    missing_a, missing_b = _missing(a), _missing(b)
    if missing_a or missing_b:
        return missing_a and missing_b
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) and type(a) is type(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return a == b


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA
