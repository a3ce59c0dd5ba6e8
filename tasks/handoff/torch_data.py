"""Exported features as PyTorch Datasets and DataLoaders (pure; needs the ``torch`` extra): the rows of a batch's
Parquet export, transformed by a registered version's own fitted preprocessing (its ``ColumnTransformer``: the
imputation, scaling and one-hot encoding the registry's model learned) and split by student exactly as that version
was trained (train / val / test; a student the version never saw goes to ``new``). Each split's loader info says
what a loader yields (rows, feature names in order, shapes and dtypes, batches, class balance, the version, the data
hash) without running a model."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from infra.errors import UserError

INSTALL = 'pip install -e ".[torch]"'
PARTS = ("train", "val", "test", "new")

try:  # the extra is optional: the rest of the project never needs it
    import torch
    from torch.utils.data import DataLoader, Dataset
except ImportError:  # pragma: no cover - exercised by the missing-extra test in a subprocess
    torch, DataLoader, Dataset = None, None, object


class TorchMissingError(UserError, ImportError):
    """PyTorch is not installed (it is an optional extra)."""


def require_torch():
    """The torch module, or one clear error naming the install command."""
    if torch is None:
        raise TorchMissingError(f"PyTorch is not installed: {INSTALL} (the CPU build is enough)")
    return torch


@dataclass(frozen=True)
class LoaderSettings:
    """How the loaders iterate: the train loader shuffles with a seeded generator; the others keep the row order."""

    batch_size: int = 64
    seed: int = 0
    num_workers: int = 0  # rows are already tensors in memory: worker processes only add start-up time
    drop_last: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.num_workers < 0:
            raise ValueError(f"batch_size must be >= 1 and num_workers >= 0, got {self.batch_size}, {self.num_workers}")


@dataclass(frozen=True)
class Part:
    """One split's arrays: model inputs after the version's preprocessing, labels (None when unlabeled), students."""

    X: np.ndarray
    y: np.ndarray | None
    students: np.ndarray
    left_out: int = 0  # rows of a labeled batch whose label is missing (not in the part)


def transformed(model, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The version's preprocessing applied to ``frame`` (its own input columns, in its order): float32 matrix and
    the transformed feature names in column order."""
    pre = model.named_steps["pre"]
    inputs = frame[list(getattr(model, "feature_names_in_", pre.feature_names_in_))]
    return np.asarray(pre.transform(inputs), dtype=np.float32), [str(n) for n in pre.get_feature_names_out()]


def split_parts(frame: pd.DataFrame, model, split_ids: dict[str, list[int]], target: str) -> tuple[dict, list[str]]:
    """Rows by the part their student was in when the version was trained (``new``: a student it never saw)."""
    X, names = transformed(model, frame)
    students = frame["student_id"].to_numpy(dtype=np.int64)
    where = {student: part for part, ids in split_ids.items() for student in ids}
    labels = frame[target].to_numpy(dtype=float) if target in frame and frame[target].notna().any() else None
    parts = {}
    for part in PARTS:
        rows = np.array([where.get(int(s), "new") == part for s in students], dtype=bool)
        if not rows.any():
            continue
        y, left_out = None, 0
        if labels is not None:
            known = rows & ~np.isnan(labels)
            left_out, rows = int(rows.sum() - known.sum()), known
            y = labels[rows].astype(np.float32)
        parts[part] = Part(X[rows], y, students[rows], left_out)
    return parts, names


class StudentFeatures(Dataset):
    """One split as tensors: ``dataset[i]`` is ``(x, y)`` (float32; ``y`` a 0/1 float for a classifier, the score
    for a regressor) or ``x`` alone for an unlabeled batch."""

    def __init__(self, part: Part) -> None:
        require_torch()
        self.X = torch.from_numpy(np.ascontiguousarray(part.X))
        self.y = None if part.y is None else torch.from_numpy(np.ascontiguousarray(part.y))
        self.students = part.students

    def __len__(self) -> int:
        """Rows."""
        return self.X.shape[0]

    def __getitem__(self, index: int):
        """One row's inputs (and label)."""
        return self.X[index] if self.y is None else (self.X[index], self.y[index])


def make_loaders(datasets: dict[str, StudentFeatures], settings: LoaderSettings) -> dict:
    """A DataLoader per split: the train one shuffles with ``torch.Generator().manual_seed(seed)`` (the same order
    on every run), the others keep the rows' order."""
    require_torch()
    loaders = {}
    for part, dataset in datasets.items():
        shuffle = part == "train"
        generator = torch.Generator().manual_seed(settings.seed) if shuffle else None
        loaders[part] = DataLoader(dataset, batch_size=settings.batch_size, shuffle=shuffle, generator=generator,
                                   num_workers=settings.num_workers, drop_last=settings.drop_last and shuffle)
    return loaders


def data_hash(part: Part) -> str:
    """SHA-256 of a split's tensors' bytes (inputs, labels, students): the data's identity in its loader info."""
    digest = hashlib.sha256(np.ascontiguousarray(part.X).tobytes())
    if part.y is not None:
        digest.update(np.ascontiguousarray(part.y).tobytes())
    digest.update(np.ascontiguousarray(part.students).tobytes())
    return digest.hexdigest()


def loader_info(part_name: str, part: Part, names: list[str], settings: LoaderSettings, version: dict,
                source: dict) -> dict:
    """What a split's loader yields, checkable without a model: rows, batches, shapes, dtypes, the version whose
    preprocessing made them, the label rule, the class balance, the data hash."""
    rows = int(part.X.shape[0])
    drop = settings.drop_last and part_name == "train"
    batches = rows // settings.batch_size if drop else math.ceil(rows / settings.batch_size)
    last = settings.batch_size if drop or rows % settings.batch_size == 0 else rows % settings.batch_size
    info = {"split": part_name, "rows": rows, "students": int(len(np.unique(part.students))),
            "feature_names": names, "x_shape": [rows, len(names)], "x_dtype": "float32",
            "y_shape": None if part.y is None else [rows], "y_dtype": None if part.y is None else "float32",
            "batch_size": settings.batch_size, "batches": batches, "last_batch_rows": last if batches else 0,
            "shuffle": part_name == "train", "seed": settings.seed, "num_workers": settings.num_workers,
            "drop_last": drop, "rows_without_label_left_out": part.left_out, "model": version, "source": source,
            "data_sha256": data_hash(part)}
    if part.y is not None and version.get("problem") == "classification":
        positive = int(part.y.sum())
        info["class_balance"] = {"positive": positive, "negative": rows - positive,
                                 "positive_share": round(positive / rows, 6) if rows else None}
    return info
