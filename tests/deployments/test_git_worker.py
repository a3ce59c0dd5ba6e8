"""Two machines on one: the deployments pull the code from git (a bare repository of the project stands in for the
remote), and a worker in another folder, with its own Prefect home and no checkout, runs a deployment through the
pool: the code comes from the clone, the data from the store."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from deployments.deploy_from_git import CredentialsInUrlError, git_spec
from infra.collections import BATCHES, STUDENTS_RAW
from tests.deployments.conftest import BIN, ROOT

pytestmark = pytest.mark.slow


def test_git_spec_swaps_only_the_pull_step_and_this_machines_results_folder():
    import yaml

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    out = git_spec(spec, "https://example.org/p.git", "v1.2", credentials_block="git-token")
    [clone, workdir] = out["pull"]
    assert clone == {"prefect.deployments.steps.git_clone": {
        "id": "clone", "repository": "https://example.org/p.git", "branch": "v1.2",
        "access_token": "{{ prefect.blocks.secret.git-token }}"}}  # the token stays in its block
    assert workdir["prefect.deployments.steps.set_working_directory"]["directory"] == "{{ clone.directory }}"
    assert "$PWD" not in json.dumps(out)  # nothing of this machine's folders
    assert [d["name"] for d in out["deployments"]] == [d["name"] for d in spec["deployments"]]
    assert [d.get("schedules") for d in out["deployments"]] == [d.get("schedules") for d in spec["deployments"]]
    with pytest.raises(CredentialsInUrlError) as refused:  # a token in the URL would be stored in every deployment
        git_spec(spec, "https://bob:ghp_SECRET123@github.com/x/p.git", "main")
    assert "SECRET" not in str(refused.value) and "bob" not in str(refused.value)
    assert "--credentials-block" in str(refused.value)
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert git_spec(spec, "file:///r.git", sha)["pull"][0]["prefect.deployments.steps.git_clone"]["commit_sha"] == sha


def test_a_worker_without_a_checkout_runs_a_deployment_cloned_from_git(prefect_server, tmp_path, db):
    server = prefect_server
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(ROOT), str(remote)], check=True, timeout=120)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    env = {**server.env, "PATH": f"{BIN}:{server.env['PATH']}"}
    subprocess.run(["bash", "deployments/setup_pool.sh"], cwd=ROOT, env=env, check=True, capture_output=True,
                   timeout=120)
    deployed = subprocess.run([sys.executable, "deployments/deploy_from_git.py", "--repository", remote.as_uri(),
                               "--ref", commit, "main"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
    assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
    assert not (ROOT / ".prefect-git.yaml").exists()
    [deployment] = server.post("/deployments/filter")
    assert deployment["pull_steps"][0]["prefect.deployments.steps.git_clone"] == {
        "id": "clone", "repository": remote.as_uri(), "commit_sha": commit}

    params = {"params": {"students": 300, "seed": 5, "train": False, "export": False}}
    created = server.prefect("deployment", "run", "student-pipeline-main/main", "--params", json.dumps(params))
    run_id = re.search(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", created.stdout).group(1)
    # flow results on storage every machine reaches (a block; a second local folder stands in for S3 or a share)
    shared = tmp_path / "shared-results"
    block = f"from prefect.filesystems import LocalFileSystem; LocalFileSystem(basepath={str(shared)!r}).save('shared')"
    subprocess.run([sys.executable, "-c", block], env=env, check=True, timeout=120)
    machine = tmp_path / "other-machine"  # another folder, its own Prefect home, no checkout
    machine.mkdir()
    (machine / "prefect-home").mkdir()
    worker = subprocess.run([str(BIN / "prefect"), "worker", "start", "--pool", "student-pipeline-pool",
                             "--run-once"], cwd=machine,
                            env={**env, "PREFECT_HOME": str(machine / "prefect-home"),
                                 "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": "local-file-system/shared"},
                            capture_output=True, text=True, timeout=400)
    run = server.http.get(f"/flow_runs/{run_id}").json()
    assert run["state_type"] == "COMPLETED", (run["state"], worker.stdout[-3000:], worker.stderr[-3000:])
    assert db[BATCHES].find_one({"batch_id": "gen-s5-n300-L"})["status"] == "featurized"
    assert db[STUDENTS_RAW].count_documents({"batch_id": "gen-s5-n300-L"}) == 300
    assert [p for p in shared.iterdir() if p.is_file()], "the run's result is on the shared storage"
    # the entrypoint (flows/main.py) exists only in the clone: the worker's folder never held a checkout
    assert sorted(p.name for p in machine.iterdir()) == ["prefect-home"]
