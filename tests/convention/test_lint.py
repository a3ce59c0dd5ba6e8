"""The house convention, checked: one lint over every tracked Python file (an exclude pattern that matched every
folder named ``data`` once hid the whole data stage and its tests from ruff)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def ruff() -> list[str]:
    """ruff from the project's environment (the test extra installs it), else from PATH."""
    beside = Path(sys.executable).with_name("ruff")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]'")
    return [found]


def tracked_python_files() -> set[str]:
    """Every .py file git tracks, relative to the project root."""
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(listed.stdout.split())


def test_ruff_reads_every_tracked_python_file():
    tracked = tracked_python_files()
    if not tracked:
        pytest.fail("git lists no Python files: is this a checkout?")
    shown = subprocess.run([*ruff(), "check", "--show-files", "."], cwd=ROOT, capture_output=True, text=True)
    linted = {str(Path(line.strip()).resolve().relative_to(ROOT)) for line in shown.stdout.splitlines()
              if line.strip().endswith(".py")}
    assert tracked - linted == set(), "ruff does not read these tracked files (an exclude pattern hides them)"


def test_ruff_passes():
    result = subprocess.run([*ruff(), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
