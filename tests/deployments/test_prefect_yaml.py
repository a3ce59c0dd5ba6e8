"""prefect.yaml carries only what differs from the flows' parameter models: every default lives once, in the model
(a default repeated in the YAML would silently stop following the model when the model changes). Pure: reads the
file, starts nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from flows.params import MainParams, RetrainParams, RollbackParams, ScoreParams
from tasks.monitoring.params import DrillParams

ROOT = Path(__file__).resolve().parents[2]
MODELS: dict[str, type[BaseModel]] = {"main": MainParams, "score": ScoreParams, "retrain": RetrainParams,
                                      "drill": DrillParams, "rollback": RollbackParams}


def deployments() -> dict[str, dict]:
    return {d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}


def repeated_defaults(model: type[BaseModel], given: dict, path: str = "") -> list[str]:
    """The keys of ``given`` whose value equals the model's default (nested models followed)."""
    found = []
    for key, value in given.items():
        field = model.model_fields[key]  # an unknown key is a KeyError: the YAML names a parameter that is not there
        default = field.get_default(call_default_factory=True)
        if isinstance(value, dict) and isinstance(default, BaseModel):
            found += repeated_defaults(type(default), value, f"{path}{key}.")
        elif value == default:
            found.append(f"{path}{key}")
    return found


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_deployment_names_only_parameters_that_differ_from_the_defaults(name):
    deployment = deployments()[name]
    given = [deployment.get("parameters") or {}]
    given += [trigger.get("parameters") or {} for trigger in deployment.get("triggers", [])]
    for parameters in given:
        assert set(parameters) <= {"params"}
        MODELS[name].model_validate(parameters.get("params", {}))  # valid for the flow
        assert repeated_defaults(MODELS[name], parameters.get("params", {})) == []


def test_a_deployment_sets_no_defaults_of_its_own_so_an_override_keeps_the_rest():
    """Prefect replaces a deployment's ``params`` object whole when a run passes one: a default set in the YAML
    would vanish the moment someone overrides any other field (1,000 students became 2,000). So deployments set
    none; the only parameters are a trigger's, filled from its event."""
    for name, deployment in deployments().items():
        assert "parameters" not in deployment, name
    assert ScoreParams().students == ScoreParams(drift={"grade_inflation": 5}).students == 2000


def test_the_checker_finds_a_repeated_default():
    assert repeated_defaults(RetrainParams, {"students": 2000, "training": {"window_batches": 3, "trees": 50}}) == [
        "students", "training.window_batches"]
