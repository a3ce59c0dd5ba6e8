"""The README's walk-through (its Quickstart page, docs/quickstart.md), run as a user would, twice over on the same
store: `make run` (the main flow) twice, then every command of the Quickstart's score/retrain block in order, each
through the real command line against a running Prefect server, checking the words each prints. The second pass is
what a user who ran everything before sees: each distinct command once more (the first pass's second `make run` is
already main run again on its own results, so the second pass does not repeat it twice). (The drill's command is
left out: it takes minutes and has flow tests of its own.)"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_walkthrough() -> list[list[str]]:
    """The commands as the README shows them: the main flow twice (`make run`, then again), then the block that
    follows "After the main flow has named a champion", comments dropped, the drill left out."""
    text = (ROOT / "docs" / "quickstart.md").read_text()
    block = text.split("After the main flow has named a champion", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line.split("#", 1)[0]) for line in block.splitlines()
                if line.startswith(".venv/bin/python flows/")]
    assert len(commands) >= 6, block
    return [["flows/main.py"], ["flows/main.py"]] + [c[1:] for c in commands if c[1] != "flows/drill.py"]


def run(server, args: list[str]) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=server.env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


# what each command must say, in order (a regular expression per line that has to appear)
FIRST_PASS = [
    [r"^champion   first champion: \w+ v1 has the best validation roc_auc"],
    [r"^batch      gen-s1-n2000-L \(seq 2", r"^champion   champion v1 exists"],
    [r"^batch      gen-s1-n2000-U", r"^scored     2000 students with high_performer v1", r"^drift      no_drift vs v1"],
    [r"^live       accuracy 0\.\d+ vs 0\.\d+ at registration, on 2000 students it had scored",
     r"^retrain    no: no material drift and no performance drop"],
    [r"^drift      drift vs v1: drifted .*avg_grade", r"^retrain    yes: material drift",
     r"^promotion  challenger is better on accuracy"],
    [r"^batch      gen-s1-n2000-L", r"^live       not measured: 0 of this batch's students had been scored by v\d+"],
    [r"^retrain    yes: .*forced"],
    [r"^champion   high_performer: v\d+ -> v\d+ \(rolled back\)"],
]


@pytest.mark.slow
def test_the_readme_walkthrough_works_and_says_what_happened_twice_over(prefect_server):
    commands = readme_walkthrough()
    assert [c[0] for c in commands] == ["flows/main.py", "flows/main.py", "flows/score.py", "flows/retrain.py",
                                        "flows/retrain.py", "flows/retrain.py", "flows/retrain.py",
                                        "flows/rollback.py"]
    for args, expected in zip(commands, FIRST_PASS, strict=True):
        out = run(prefect_server, args)
        for pattern in expected:
            assert re.search(pattern, out, re.MULTILINE), f"{' '.join(args)} did not say {pattern!r}:\n{out}"
    again = [list(c) for c in dict.fromkeys(map(tuple, commands))]  # each distinct command once, in order
    assert len(again) == len(commands) - 1
    for args in again:  # again, on everything the first pass left: every command still answers in words
        out = run(prefect_server, args)
        assert out.startswith("starting   ") and "Traceback" not in out
        assert re.search(r"^(batch|champion)   ", out, re.MULTILINE), out
