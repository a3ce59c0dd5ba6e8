"""Deploy prefect.yaml's deployments so that workers pull the code from git: a worker on any machine, with only the
project's packages installed and the store in its environment (``MONGO_URI``), clones the repository at a ref
for each run. prefect.yaml stays the one description of the deployments; only its pull step (and the local
results folder, a path on this machine) is swapped.

    python deployments/deploy_from_git.py --repository https://github.com/you/student-pipeline.git --ref main
    python deployments/deploy_from_git.py --repository ... --ref v1.2 --credentials-block git-token  # private

``--credentials-block`` names a Prefect Secret block holding an access token: the token stays in the block, never
in a file or a deployment's configuration. Flow results go where the workers' Prefect settings say (see
docs/scaling.md: ``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK`` for storage every machine reaches).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
GIT_FILE = ROOT / ".prefect-git.yaml"  # written, deployed from, removed (git-ignored)


class CredentialsInUrlError(ValueError):
    """A repository URL with a user or token in it: it would be stored in every deployment and shown in the UI."""


def git_spec(spec: dict[str, Any], repository: str, ref: str, credentials_block: str | None = None) -> dict:
    """prefect.yaml's content with a ``git_clone`` pull step at ``ref`` (a branch or tag, or a 40-hex commit) and
    without this machine's results folder. A URL carrying credentials is refused (without echoing them)."""
    from urllib.parse import urlsplit

    parts = urlsplit(repository)
    if parts.scheme in ("http", "https") and (parts.username or parts.password):
        raise CredentialsInUrlError(f"the repository URL carries credentials ({parts.scheme}://***@{parts.hostname}"
                                    "/...): they would be stored in every deployment; put the token in a Prefect "
                                    "Secret block and pass --credentials-block NAME")
    step: dict[str, Any] = {"id": "clone", "repository": repository}
    step["commit_sha" if re.fullmatch(r"[0-9a-f]{40}", ref) else "branch"] = ref
    if credentials_block:
        step["access_token"] = "{{ prefect.blocks.secret." + credentials_block + " }}"
    out = {**spec, "pull": [{"prefect.deployments.steps.git_clone": step},
                            {"prefect.deployments.steps.set_working_directory": {
                                "directory": "{{ clone.directory }}"}}]}
    pool = dict((out.get("definitions") or {}).get("work_pool") or {})
    if pool:
        variables = {k: v for k, v in (pool.get("job_variables") or {}).items() if k != "env"}
        pool["job_variables"] = variables
        out["definitions"] = {**out["definitions"], "work_pool": pool}
        for deployment in out.get("deployments", []):
            if "work_pool" in deployment:
                deployment["work_pool"] = pool
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the git variant of prefect.yaml, deploy from it, remove it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", required=True, help="the repository's URL (https://, ssh or file://)")
    parser.add_argument("--ref", default="main", help="branch, tag or 40-hex commit to run (default main)")
    parser.add_argument("--credentials-block", help="a Prefect Secret block holding an access token")
    parser.add_argument("names", nargs="*", help="deployment names (default: all)")
    args = parser.parse_args(argv)
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    try:
        content = git_spec(spec, args.repository, args.ref, args.credentials_block)
    except CredentialsInUrlError as exc:
        parser.error(str(exc))
    GIT_FILE.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    try:
        which = [f"--name={name}" for name in args.names] or ["--all"]
        prefect = Path(sys.executable).with_name("prefect")
        return subprocess.run([str(prefect), "--no-prompt", "deploy", *which, "--prefect-file", str(GIT_FILE)],
                              cwd=ROOT).returncode
    finally:
        GIT_FILE.unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(main())
