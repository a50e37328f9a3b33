"""JobQueue, the queue both engines run on: latest wins, warm-ups yield, the worker lives."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError, Future

import pytest

from cl_lsp.engine.base import Cancelled, EngineStats, GenerationRequest, GenerationResult
from cl_lsp.engine.job_queue import JobQueue


class Gate:
    """A generate function that blocks on its first job until released."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.seen: list[list[int]] = []

    def __call__(self, request: GenerationRequest) -> GenerationResult:
        self.seen.append(request.ids)
        if request.ids == [0]:
            self.started.set()
            while not self.release.wait(0.01) and not request.cancel.is_set():
                pass
            if request.cancel.is_set():  # like an engine, before its next step
                raise Cancelled()
        if request.ids == [99]:
            raise RuntimeError("injected")
        return GenerationResult("x", [1], len(request.ids), 0, 0.0, 0.0, "max_tokens")


def request(ids: list[int], **kwargs: object) -> GenerationRequest:
    return GenerationRequest(ids=ids, max_tokens=1, **kwargs)  # type: ignore[arg-type]


def test_latest_wins_and_the_queue_stays_short() -> None:
    gate, stats = Gate(), EngineStats()
    queue = JobQueue(gate, stats, "test-queue", lambda error: None)
    try:
        running = queue.submit(request([0], key="doc"))
        assert gate.started.wait(5)
        older = [queue.submit(request([i], key="doc")) for i in range(1, 20)]
        newest = queue.submit(request([20], key="doc"))
        gate.release.set()
        assert newest.result(5).text == "x"
        for future in [running, *older]:
            with pytest.raises(Cancelled):
                future.result(5)
        assert gate.seen == [[0], [20]]
        assert stats.max_queue == 1 and stats.cancelled == 20
    finally:
        queue.close()


def test_a_real_request_cancels_a_warm_up() -> None:
    gate, stats = Gate(), EngineStats()
    queue = JobQueue(gate, stats, "test-queue", lambda error: None)
    try:
        warm = queue.submit(request([0], warm=True))
        assert gate.started.wait(5)
        real = queue.submit(request([1], key="doc"))
        assert real.result(5).text == "x"
        with pytest.raises(Cancelled):
            warm.result(5)
        assert stats.warm_cancelled == 1 and stats.cancelled == 0
    finally:
        queue.close()


def test_the_worker_survives_cancelled_failed_and_abandoned_jobs() -> None:
    gate, stats = Gate(), EngineStats()
    failures: list[Exception] = []
    queue = JobQueue(gate, stats, "test-queue", failures.append)
    try:
        first = queue.submit(request([0], key="doc"))
        assert gate.started.wait(5)
        abandoned = queue.submit(request([1]))
        abandoned.cancel()  # its owner gave up on it (asyncio.wrap_future does this)
        withdrawn = request([2])
        withdrawn.cancel.set()  # cancelled by the server before it ran
        cancelled = queue.submit(withdrawn)
        failing = queue.submit(request([99]))
        gate.release.set()
        first.result(5)
        with pytest.raises(CancelledError):
            abandoned.result(5)
        with pytest.raises(RuntimeError):
            failing.result(5)
        with pytest.raises(Cancelled):
            cancelled.result(5)
        assert [str(error) for error in failures] == ["injected"]
        lone = request([4])
        lone.cancel.set()
        with pytest.raises(Cancelled):  # the only job, skipped: the worker waits on...
            queue.submit(lone).result(5)
        assert queue.submit(request([3])).result(5).text == "x"  # ...and still serves
    finally:
        assert queue.close()


def test_closed_queue_refuses_work() -> None:
    queue = JobQueue(Gate(), EngineStats(), "test-queue", lambda error: None)
    assert queue.close()
    future: Future[GenerationResult] = queue.submit(request([1]))
    with pytest.raises(Exception, match="shut down"):
        future.result(1)
