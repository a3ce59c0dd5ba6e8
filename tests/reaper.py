"""Stops what a pytest process started if that process dies without stopping it (standard library only).

``python tests/reaper.py PID``, started by every pytest process of a run (the controller and each xdist worker,
``tests/conftest.py``) in a session of its own: it notes, every ``PERIOD_S``, the processes below PID (the session's
local MongoDB server, Prefect's test server, a flow's subprocess) and, once PID is gone, stops those still running
(SIGTERM, then SIGKILL after ``GRACE_S``), then exits. A run that ends normally has stopped them already; one killed
from outside (a CI timeout's SIGTERM that xdist answers by ending its workers before their fixtures unwind, or a
SIGKILL) leaves them to this. A process is known by its pid and its start time, so a reused pid is never touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

PERIOD_S = 2.0
GRACE_S = 10.0


def processes() -> dict[int, tuple[int, str]]:
    """Every live process: pid -> (parent pid, start time in clock ticks since boot)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ..., starttime (22nd)
        table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


def below(pid: int, table: dict[int, tuple[int, str]]) -> dict[int, str]:
    """The processes below ``pid`` (children, their children, ...): pid -> start time."""
    children: dict[int, list[int]] = {}
    for child, (parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = table[child][1]
            todo.append(child)
    return found


def alive(known: dict[int, str]) -> list[int]:
    """Those of ``known`` still running as the same process (same start time)."""
    table = processes()
    return [pid for pid, started in known.items() if pid in table and table[pid][1] == started]


def watch(pid: int) -> None:
    """Note what runs below ``pid`` until it is gone, then stop what is left of it."""
    me, known = os.getpid(), {}
    started = processes().get(pid, (0, ""))[1]
    while True:
        table = processes()
        if pid not in table or table[pid][1] != started:
            break
        known.update({child: start for child, start in below(pid, table).items() if child != me})
        known = {child: start for child, start in known.items() if child in table and table[child][1] == start}
        time.sleep(PERIOD_S)
    for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, 0.0)):
        for child in alive(known):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, sig)
        deadline = time.monotonic() + wait
        while alive(known) and time.monotonic() < deadline:
            time.sleep(0.2)


if __name__ == "__main__":
    watch(int(sys.argv[1]))
