"""The hand-off as one call: a batch's export and a registered version in, Datasets, DataLoaders and loader infos out
(each split's info kept beside the export under ``torch/<model>-v<version>/`` and in the store's report files)."""

from __future__ import annotations

from dataclasses import dataclass

from infra.settings import get_settings
from infra.storage import get_database
from tasks.handoff import store
from tasks.handoff.torch_data import LoaderSettings, StudentFeatures, loader_info, make_loaders, split_parts


@dataclass
class Handoff:
    """What an ML engineer gets: per split, a Dataset, a DataLoader and its loader info; where the infos are."""

    datasets: dict
    loaders: dict
    infos: dict[str, dict]
    files: list[str]


def hand_off(batch_id: str, name: str = "high_performer", version: int | None = None,
             settings: LoaderSettings | None = None) -> Handoff:
    """The exported features of ``batch_id`` as PyTorch data with version ``version``'s (default: the champion's)
    preprocessing and split; the loader infos are written beside the export and into the store."""
    settings = settings or LoaderSettings()
    db = get_database()
    record, model = store.version_and_model(db, name, version)
    folder = get_settings().export_path / batch_id
    frame, schema = store.read_export(folder)
    parts, names = split_parts(frame, model, store.version_split(db, record), record.spec.target)
    facts = {"name": record.name, "version": record.version, "algorithm": record.algorithm,
             "problem": record.problem, "sha256": record.sha256, "label_rule": record.label_rule.as_dict(),
             "target": record.spec.target}
    source = {"batch_id": batch_id, "parquet": str(folder / "features.parquet"),
              "export_csv_sha256": schema.get("data_sha256")}
    datasets = {part: StudentFeatures(arrays) for part, arrays in parts.items()}
    infos = {part: loader_info(part, arrays, names, settings, facts, source) for part, arrays in parts.items()}
    where = f"torch/{record.name}-v{record.version}"
    files = store.keep_loader_info(db, folder / where, f"exports/{batch_id}/{where}", infos)
    return Handoff(datasets, make_loaders(datasets, settings), infos, files)


def one_epoch(handoff: Handoff, seed: int = 0) -> dict:
    """The runnable example: a logistic regression in PyTorch (one linear layer) trained for one epoch on the train
    loader, the shapes of every batch checked against the loader info; the mean loss and the batches seen."""
    import torch

    torch.manual_seed(seed)
    info = handoff.infos["train"]
    layer = torch.nn.Linear(info["x_shape"][1], 1)
    optimiser = torch.optim.SGD(layer.parameters(), lr=0.1)
    loss_fn = torch.nn.BCEWithLogitsLoss() if info["model"]["problem"] == "classification" else torch.nn.MSELoss()
    losses = []
    for x, y in handoff.loaders["train"]:
        assert x.shape[1] == info["x_shape"][1] and x.dtype == torch.float32 and y.shape == (x.shape[0],)
        optimiser.zero_grad()
        loss = loss_fn(layer(x).squeeze(1), y)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return {"batches": len(losses), "mean_loss": sum(losses) / len(losses) if losses else None}
