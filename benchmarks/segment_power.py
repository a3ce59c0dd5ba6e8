"""The per-group check's power curve and false-alarm rate, on simulated labelled batches (the arithmetic of
tasks/monitoring/segments.py, no store): how often a group worse by 3, 5 or 10 accuracy points is named, by the
group's students per batch, on one batch and within the window of three; and how often any group is named in a world
whose groups really differ by 0-2 points, as a real model's do (docs/statistics.md quotes this table).

    .venv/bin/python benchmarks/segment_power.py [--runs 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.monitoring.params import SegmentParams  # noqa: E402
from tasks.monitoring.segments import two_looks  # noqa: E402

FIELDS = ["first_generation", "part_time_job", "major"]
MAJORS = ["Math", "Physics", "Computer Science", "Biology", "Economics", "History", "Literature"]
MIX = [0.12, 0.08, 0.22, 0.16, 0.18, 0.12, 0.12]  # the generator's intake (tasks/data/synthetic.py)


def students(rng, rows: int, focus: float = 0.0) -> pd.DataFrame:
    """The generator's groups; ``focus`` > 0: a group ``focus=yes`` of that share besides."""
    frame = pd.DataFrame({"first_generation": rng.random(rows) < 0.3, "part_time_job": rng.random(rows) < 0.35,
                          "major": rng.choice(MAJORS, rows, p=MIX)})
    return frame.assign(focus=rng.random(rows) < focus) if focus else frame


def unevenness(rng, fields: tuple = ()) -> dict[tuple[str, object], float]:
    """A world like a real model's: every group a little worse, by 0-2 points of recall and of 1 - FPR."""
    groups = [("first_generation", [True, False]), ("part_time_job", [True, False]), ("major", MAJORS)]
    return {(name, value): rng.uniform(0, 0.02) for name, values in [*groups, *fields] for value in values}


def labelled_batch(rng, world, rows=2000, drop=None, recall_only=False, focus: float = 0.0) -> pd.DataFrame:
    """Positives 30%; recall 0.75 and FPR 0.08 (accuracy 0.87) less each group's unevenness; ``drop``: (field,
    value, points) lower accuracy for that group (recall and 1 - FPR both down), or with ``recall_only`` recall down
    and FPR down as much as keeps the accuracy."""
    frame = students(rng, rows, focus)
    recall, fpr = np.full(rows, 0.75), np.full(rows, 0.08)
    for (name, value), points in world.items():
        inside = (frame[name] == value).to_numpy()
        recall[inside] -= points
        fpr[inside] += points
    if drop:
        name, value, points = drop
        inside = (frame[name] == value).to_numpy()
        recall[inside] -= points
        fpr[inside] += -points * 0.3 / 0.7 if recall_only else points
    positive = rng.random(rows) < 0.3
    flagged = np.where(positive, rng.random(rows) < recall, rng.random(rows) < fpr)
    return frame.assign(student_id=rng.integers(0, 2**52, rows), positive=positive.astype(float),
                        flagged=flagged.astype(float), correct=(flagged == positive).astype(float))


def checked(rng, drop=None, recall_only=False, window=3, focus: float = 0.0, settings: SegmentParams | None = None):
    """The two looks on the last of ``window`` batches of one world (one look when ``window`` is 1)."""
    settings = settings or SegmentParams()
    fields = (("focus", [True, False]),) if focus else ()
    world = unevenness(rng, fields)
    batches = [labelled_batch(rng, world, drop=drop, recall_only=recall_only, focus=focus) for _ in range(window)]
    return two_looks(batches[-1], batches[:-1], FIELDS + (["focus"] if focus else []), settings, True)


def main() -> None:
    """The false-alarm rates, then the power table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="simulated checks per cell")
    parser.add_argument("--tolerance", type=float, default=None, help="segment_tolerance (default: the setting's)")
    args = parser.parse_args()
    settings = SegmentParams() if args.tolerance is None else SegmentParams(segment_tolerance=args.tolerance)
    print(f"settings: {settings.model_dump()}")
    rng = np.random.default_rng(2026)
    start = time.perf_counter()
    alarms = {window: sum(bool(checked(rng, window=window, settings=settings).material)
                          for _ in range(args.runs)) / args.runs
              for window in (1, 3)}
    print(f"no group effect (groups 0-2 points apart), 2,000 students a batch, {args.runs} runs: any group named "
          f"{alarms[1]:.3f} (one batch), {alarms[3]:.3f} (window of 3)")
    print("a group worse by ... accuracy points, named (share of runs), by its students per batch of 2,000:")
    print(f"{'students':>9} {'gap':>5} {'one batch':>10} {'window of 3':>12}")
    for size in (100, 150, 300, 600):
        for gap in (0.03, 0.05, 0.10):
            named = {}
            for window in (1, 3):
                named[window] = sum(any(g.name == "focus=yes" for g in checked(
                    rng, ("focus", True, gap), window=window, focus=size / 2000, settings=settings).material)
                    for _ in range(args.runs)) / args.runs
            print(f"{size:>9} {gap:>5.2f} {named[1]:>10.3f} {named[3]:>12.3f}", flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
