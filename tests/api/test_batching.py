"""Dynamic batching, fair to small requests (pure: a stand-in answers): a heavy request is answered in chunks, one
per batch, so a one-record request that arrives meanwhile is answered with the next chunk, not after all of them;
answers keep their request's order, and a chunk's error fails its whole request."""

from __future__ import annotations

import threading
import time

import pytest

from api.batching import Batcher, Job, chunks, weight

pytestmark = pytest.mark.pure


def record(student: int, courses: int = 0, grades: int = 0) -> dict:
    return {"student_id": student, "courses": [{"grades": [50] * grades} for _ in range(courses)]}


def test_weight_and_chunks():
    assert weight(record(1)) == 1 and weight(record(1, 30, 26)) == 1 + 30 + 780
    job = Job("m", "r", [record(i, 2, 3) for i in range(10)])  # 9 each
    parts = chunks(job, 20)
    assert [len(p.records) for p in parts] == [2, 2, 2, 2, 2] and all(p.parent is job for p in parts)
    assert chunks(job, 1000) == [job]
    assert [len(p.records) for p in chunks(Job("m", "r", [record(1, 30, 26), record(2)]), 100)] == [1, 1]


def run(chunk_weight: int) -> tuple[list[list[str]], list[dict], list[dict]]:
    batches: list[list[str]] = []
    started = threading.Event()

    def answer(jobs: list[Job]) -> None:
        batches.append([job.request_id for job in jobs])
        started.set()
        if len(batches) == 1:  # the first batch computes until the small request is waiting too
            deadline = time.monotonic() + 5
            while batcher.waiting_records() < 200 - len(jobs[0].records) + 1 and time.monotonic() < deadline:
                time.sleep(0.005)
        for job in jobs:
            job.answers = [{"student_id": r["student_id"], "request": job.request_id} for r in job.records]

    batcher = Batcher(answer, max_records=1000, chunk_weight=chunk_weight)
    out: dict[str, list[dict]] = {}
    big = threading.Thread(target=lambda: out.update(big=batcher.submit(
        Job("m", "big", [record(i, 3, 5) for i in range(200)]))))  # 200 x 19 = 3,800
    big.start()
    started.wait(5)
    out["small"] = batcher.submit(Job("m", "small", [record(10_000)]))
    big.join(10)
    batcher.stop()
    return batches, out["big"], out["small"]


def test_a_small_request_is_answered_with_the_next_chunk_of_a_heavy_one():
    batches, big, small = run(chunk_weight=400)  # 21 records per chunk: 10 chunks
    assert len(batches) == 10 and batches[0] == ["big"]
    assert batches[1] == ["big", "small"]  # one chunk of each request per batch: the small one goes next
    assert [a["student_id"] for a in big] == list(range(200)) and small == [{"student_id": 10_000,
                                                                             "request": "small"}]
    whole, _, _ = run(chunk_weight=1_000_000)  # not chunked: the small request waits for all of the big one
    assert whole == [["big"], ["small"]]


def test_a_failed_chunk_fails_its_whole_request():
    calls = []

    def answer(jobs: list[Job]) -> None:
        calls.append(len(jobs))
        if len(calls) == 2:
            raise RuntimeError("the log could not be written")
        for job in jobs:
            job.answers = [{"student_id": r["student_id"]} for r in job.records]

    batcher = Batcher(answer, max_records=1000, chunk_weight=50)
    with pytest.raises(RuntimeError, match="could not be written"):
        batcher.submit(Job("m", "r", [record(i, 2, 3) for i in range(20)]))  # 9 each: 4 chunks
    assert batcher.submit(Job("m", "next", [record(99)])) == [{"student_id": 99}]
    batcher.stop()


def test_the_next_batch_is_computed_while_the_last_one_waits_for_its_log_and_computing_is_one_at_a_time():
    """Two workers: the second takes the waiting requests while the first batch's second step (the log's write)
    is blocked; computing never overlaps; a failed second step fails its own batch only."""
    computing, most, log_open, log_waiting, events = [0], [0], threading.Event(), threading.Event(), []
    lock = threading.Lock()

    def answer(jobs: list[Job]):
        with lock:
            computing[0] += 1
            most[0] = max(most[0], computing[0])
        time.sleep(0.02)
        with lock:
            computing[0] -= 1
        first = jobs[0].request_id

        def finish() -> None:
            if first == "first":
                log_waiting.set()
                log_open.wait(5)  # the store is slow with the first batch's log
                raise RuntimeError("log down")
            events.append(first)
            for job in jobs:
                job.answers = [{"student_id": r["student_id"]} for r in job.records]
        return finish

    batcher = Batcher(answer, max_records=1000, workers=2)
    failed: dict = {}

    def first() -> None:
        try:
            batcher.submit(Job("m", "first", [record(1)]))
        except RuntimeError as exc:
            failed["first"] = str(exc)

    thread = threading.Thread(target=first)
    thread.start()
    assert log_waiting.wait(5)  # the first batch is waiting on its log
    assert batcher.submit(Job("m", "second", [record(2)])) == [{"student_id": 2}]  # answered meanwhile
    assert events == ["second"] and "first" not in failed
    log_open.set()
    thread.join(5)
    batcher.stop()
    assert failed == {"first": "log down"} and most[0] == 1
