"""Requests that arrive together are answered together (dynamic batching, as model servers do): while a worker is
busy, new requests wait; the next free worker takes every waiting request for the same model, up to a record
limit, and answers them with one aggregation over ``$documents``, one prediction per model version and one
insert of the log. Nothing waits on purpose: under light load a request is answered alone, at once.

Two requests in one batch never share a student (the pipeline groups records by student), and a batch whose
log cannot be written fails every request in it: no answer is given unlogged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(eq=False)
class Job:
    """One request's records, waiting for their answers."""

    name: str  # which model answers
    request_id: str
    records: list[dict]
    students: frozenset = field(init=False)
    done: threading.Event = field(default_factory=threading.Event)
    answers: list[dict] | None = None
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.students = frozenset(record["student_id"] for record in self.records)


class Batcher:
    """``workers`` threads answering waiting jobs in batches of up to ``max_records`` records."""

    def __init__(self, answer: Callable[[list[Job]], None], max_records: int, workers: int = 1) -> None:
        self.answer, self.max_records = answer, max_records
        self._waiting: list[Job] = []
        self._condition = threading.Condition()
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, name=f"batcher-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()
        self.batches = self.jobs = 0  # how much batching happened (for the benchmark)

    def waiting_records(self) -> int:
        """Records queued and not yet taken into a batch (the queue depth /metrics shows)."""
        with self._condition:
            return sum(len(job.records) for job in self._waiting)

    def submit(self, job: Job) -> list[dict]:
        """Queue the job and wait for its answers (or its batch's error)."""
        with self._condition:
            self._waiting.append(job)
            self._condition.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.answers

    def _take(self) -> list[Job]:
        """Every waiting job that fits with the first one: same model, no shared student, within the limit."""
        with self._condition:
            while not self._waiting and not self._stopping:
                self._condition.wait()
            batch: list[Job] = []
            students: set = set()
            records, rest = 0, []
            for job in self._waiting:
                fits = (not batch or (job.name == batch[0].name and not job.students & students
                                      and records + len(job.records) <= self.max_records))
                if fits:
                    batch.append(job)
                    students |= job.students
                    records += len(job.records)
                else:
                    rest.append(job)
            self._waiting = rest
            return batch

    def _work(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            try:
                self.answer(batch)
            except BaseException as exc:  # noqa: BLE001 - every request of the batch gets the error
                for job in batch:
                    job.error = exc
            finally:
                self.batches, self.jobs = self.batches + 1, self.jobs + len(batch)
                for job in batch:
                    job.done.set()

    def stop(self) -> None:
        """Let the workers finish what they hold, then end."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
