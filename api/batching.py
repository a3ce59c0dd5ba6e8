"""Requests that arrive together are answered together (dynamic batching, as model servers do): while a worker is
busy, new requests wait; the next free worker takes every waiting request for the same model, up to a record
limit, and answers them with one aggregation over ``$documents``, one prediction per model version and one
insert of the log. Nothing waits on purpose: under light load a request is answered alone, at once.

Two requests in one batch never share a student (the pipeline groups records by student), and a batch whose
log cannot be written fails every request in it: no answer is given unlogged.

Fair to small requests: a request heavier than ``chunk_weight`` (records + courses + grades) is answered in chunks,
and a batch takes at most one chunk of each request, so a one-record request that arrives while a maximum-size one
is being answered waits for about one chunk, not for the whole request.
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
    parent: Job | None = None  # the request this chunk is part of (None: the job is a whole request)
    version: int | None = None  # a version asked for by an operator (None: the champion, or the test's arm)
    explain: bool = False  # answer each prediction with its reasons (tasks/scoring/reasons.py)
    asked_by: str = "loopback (no key)"  # who asked (logged with every prediction)
    official: bool = False  # asked by a trusted producer: its predictions count if made on the stored record

    def __post_init__(self) -> None:
        self.students = frozenset(record["student_id"] for record in self.records)

    @property
    def request(self) -> Job:
        """The whole request (itself, or the request this chunk is part of)."""
        return self.parent or self


def weight(record: dict) -> int:
    """What answering a record costs, roughly: one, plus its courses and grades."""
    courses = record.get("courses") if isinstance(record.get("courses"), list) else []
    return 1 + len(courses) + sum(len(c.get("grades") or []) for c in courses if isinstance(c, dict))


def chunks(job: Job, chunk_weight: int) -> list[Job]:
    """The job as consecutive chunks of at most ``chunk_weight`` (a record heavier than that is a chunk alone)."""
    parts: list[list[dict]] = [[]]
    load = 0
    for record in job.records:
        cost = weight(record)
        if parts[-1] and load + cost > chunk_weight:
            parts.append([])
            load = 0
        parts[-1].append(record)
        load += cost
    if len(parts) == 1:
        return [job]
    return [Job(job.name, job.request_id, part, parent=job, version=job.version, explain=job.explain,
                asked_by=job.asked_by, official=job.official) for part in parts]


class Batcher:
    """``workers`` threads answering waiting jobs in batches of up to ``max_records`` records.

    ``answer(jobs)`` may return a second step (``finish``, the log's write) that runs after the worker has handed
    its turn on: one worker at a time takes a batch and computes it, so batches grow as large as with one worker,
    while another batch's second step waits on the store. The jobs are done when their second step is.
    """

    def __init__(self, answer: Callable[[list[Job]], Callable[[], None] | None], max_records: int, workers: int = 1,
                 chunk_weight: int = 20_000) -> None:
        self.answer, self.max_records, self.chunk_weight = answer, max_records, chunk_weight
        self._waiting: list[Job] = []
        self._condition = threading.Condition()
        self._turn = threading.Lock()  # taking and computing a batch: one worker at a time
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
        """Queue the job (in chunks when it is heavy) and wait for its answers (or its batch's error)."""
        parts = chunks(job, self.chunk_weight)
        with self._condition:
            self._waiting.extend(parts)
            self._condition.notify()
        for part in parts:
            part.done.wait()
        failed = next((part.error for part in parts if part.error is not None), None)
        if failed is not None:
            raise failed
        return [answer for part in parts for answer in part.answers]

    def _take(self) -> list[Job]:
        """Every waiting job that fits with the first one: same model, no shared student, within the limit, and at
        most one chunk of each request (the rest of a heavy request waits its turn behind newer small ones)."""
        with self._condition:
            while not self._waiting and not self._stopping:
                self._condition.wait()
            batch: list[Job] = []
            students: set = set()
            requests: set[int] = set()
            records, rest = 0, []
            for job in self._waiting:
                fits = (not batch or (job.name == batch[0].name and job.version == batch[0].version
                                      and not job.students & students
                                      and id(job.request) not in requests
                                      and records + len(job.records) <= self.max_records))
                if fits:
                    batch.append(job)
                    students |= job.students
                    requests.add(id(job.request))
                    records += len(job.records)
                else:
                    rest.append(job)
            self._waiting = rest
            return batch

    def _work(self) -> None:
        while True:
            finish = None
            with self._turn:
                batch = self._take()
                if not batch:
                    return
                try:
                    finish = self.answer(batch)
                except BaseException as exc:  # noqa: BLE001 - every request of the batch gets the error
                    self._done(batch, exc)
                    continue
            try:
                if finish is not None:
                    finish()
            except BaseException as exc:  # noqa: BLE001 - every request of the batch gets the error
                self._done(batch, exc)
            else:
                self._done(batch, None)

    def _done(self, batch: list[Job], error: BaseException | None) -> None:
        with self._condition:
            self.batches, self.jobs = self.batches + 1, self.jobs + len(batch)
        for job in batch:
            if error is not None:
                job.error = error
            job.done.set()

    def stop(self) -> None:
        """Let the workers finish what they hold, then end."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
