"""The PyTorch hand-off (issue 36): a batch's exported features as Datasets and DataLoaders whose tensors are the
registry model's own transformed matrix for the same rows, split by student exactly as the version was trained, with
loader infos that match what iteration yields; a missing extra is one clear error line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tasks.data.tasks import export_features
from tasks.handoff.store import ExportNotFoundError, version_split
from tasks.handoff.tasks import hand_off, one_epoch
from tasks.handoff.torch_data import LoaderSettings, transformed
from tasks.registry.store import find_champion, load_binary
from tasks.training.params import TrainingParams
from tests.builders import add_batch, train_and_register

torch = pytest.importorskip("torch", reason="the torch extra: pip install -e '.[torch]' (make test installs it)")


@pytest.fixture
def exported(db):
    batch = add_batch(1200, 0)
    train_and_register(TrainingParams(algorithms=["linear"]))
    export_features.fn(batch)
    return db, batch


def test_the_tensors_are_the_registry_model_s_own_transformed_rows_split_as_it_was_trained(exported):
    import pandas as pd

    from infra.settings import get_settings

    db, batch = exported
    handoff = hand_off(batch, settings=LoaderSettings(batch_size=100, seed=3))
    record = find_champion(db, "high_performer")
    model = load_binary(db, record)
    split = version_split(db, record)
    frame = pd.read_parquet(get_settings().export_path / batch / "features.parquet")
    assert set(handoff.datasets) == {"train", "val", "test"}  # the version trained on this batch: nothing new
    seen = set()
    for part, dataset in handoff.datasets.items():
        students = set(dataset.students.tolist())
        assert students <= set(split[part]) and not students & seen  # the training split, no student twice
        seen |= students
        rows = frame.set_index("student_id").loc[dataset.students].reset_index()
        expected, names = transformed(model, rows)
        np.testing.assert_allclose(dataset.X.numpy(), model.named_steps["pre"].transform(
            rows[list(model.feature_names_in_)]).astype(np.float32), rtol=1e-6, atol=1e-6)
        assert np.array_equal(dataset.X.numpy(), expected)
        assert dataset.y.numpy().tolist() == rows["high_performer"].astype(float).tolist()
        assert handoff.infos[part]["feature_names"] == names == list(model.named_steps["pre"].get_feature_names_out())
    assert seen == set(frame["student_id"])


def test_loader_info_matches_what_iteration_yields_and_is_kept_beside_the_export_and_in_the_store(exported):
    from infra.report_files import read_file

    db, batch = exported
    handoff = hand_off(batch, settings=LoaderSettings(batch_size=64, seed=7))
    for part, loader in handoff.loaders.items():
        info = handoff.infos[part]
        sizes = [x.shape[0] for x, _ in loader]
        assert len(sizes) == info["batches"] and sum(sizes) == info["rows"] and sizes[-1] == info["last_batch_rows"]
        x, y = next(iter(loader))
        assert list(x.shape) == [min(64, info["rows"]), info["x_shape"][1]] and x.dtype == torch.float32
        assert y.dtype == torch.float32 and info["y_dtype"] == "float32"
        balance = info["class_balance"]
        assert balance["positive"] == int(handoff.datasets[part].y.sum()) and balance["negative"] == info["rows"] - \
            balance["positive"]
        assert info["model"]["version"] == 1 and info["model"]["label_rule"]["threshold"] == 70
        kept = json.loads(Path(next(f for f in handoff.files if f.endswith(f"/{part}_loader_info.json"))).read_text())
        assert kept == info
        stored, _ = read_file(db, f"exports/{batch}/torch/high_performer-v1/{part}_loader_info.json")
        assert json.loads(stored) == info
    runs = [hand_off(batch, settings=LoaderSettings(batch_size=64, seed=7)) for _ in range(2)]
    first, again = ([y.tolist() for _, y in run.loaders["train"]] for run in runs)
    assert again == first  # seeded shuffle: the same order on every run (and a new order each epoch)
    assert handoff.infos["train"]["data_sha256"] == runs[1].infos["train"]["data_sha256"]
    assert one_epoch(handoff)["batches"] == handoff.infos["train"]["batches"]


def test_students_the_version_never_saw_are_their_own_part_and_an_unexported_batch_is_a_clear_error(exported):
    db, _ = exported
    later = add_batch(300, 1, labeled=False)
    with pytest.raises(ExportNotFoundError, match="export the batch first"):
        hand_off(later)
    export_features.fn(later)
    handoff = hand_off(later)
    assert set(handoff.datasets) == {"new"} and handoff.infos["new"]["rows"] == 300
    assert handoff.infos["new"]["y_shape"] is None and handoff.datasets["new"][0].shape == (
        handoff.infos["new"]["x_shape"][1],)


def test_without_the_extra_the_command_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['torch'] = None; from tasks.handoff.__main__ import main; "
            "raise SystemExit(main(['--batch', 'gen-s0-n10-L']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[3])
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and lines == ['error: PyTorch is not installed: pip install -e ".[torch]" (the CPU '
                                              'build is enough)']
