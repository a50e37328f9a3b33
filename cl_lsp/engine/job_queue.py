"""The latest-wins job queue and the one worker thread that serves it.

Both engines (llama.cpp in-process, a remote server) run one generation at a time. A
newer request with the same key cancels the older (one per document); any real request
cancels warm-ups; cancelled jobs are answered and dropped at once, so the queue holds at
most one live job per key however fast the user types; and the worker survives any one
job, cancelled or failed.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from cl_lsp.engine.base import Cancelled, EngineError, EngineStats, GenerationRequest
from cl_lsp.engine.base import GenerationResult as Result


@dataclass
class _Job:
    request: GenerationRequest
    future: Future[Result]


class JobQueue:
    """Feeds `generate` on a worker thread named `name`; `failed` is called (inside the
    except block, so it may log the traceback) when a job raises anything but Cancelled."""

    def __init__(
        self,
        generate: Callable[[GenerationRequest], Result],
        stats: EngineStats,
        name: str,
        failed: Callable[[Exception], None],
    ) -> None:
        self._generate = generate
        self._stats = stats
        self._failed = failed
        self._cond = threading.Condition()
        self._pending: deque[_Job] = deque()
        self._running: _Job | None = None
        self._closed = False
        self._worker = threading.Thread(target=self._work, name=name, daemon=True)
        self._worker.start()

    def submit(self, request: GenerationRequest) -> Future[Result]:
        """Queue a request; a newer one with the same key cancels the older (latest wins)."""
        future: Future[Result] = Future()
        with self._cond:
            if self._closed:
                future.set_exception(EngineError("The engine is shut down."))
                return future
            if not request.background:
                # Warm-ups and prefetches are the lowest priority: any real request
                # cancels them.
                for job in self._pending:
                    if job.request.background:
                        job.request.cancel.set()
                if self._running is not None and self._running.request.background:
                    self._running.request.cancel.set()
            if request.key is not None:
                for job in self._pending:
                    if job.request.key == request.key:
                        job.request.cancel.set()
                if self._running is not None and self._running.request.key == request.key:
                    self._running.request.cancel.set()
            self._drop_cancelled()
            self._pending.append(_Job(request, future))
            self._stats.max_queue = max(self._stats.max_queue, len(self._pending))
            self._cond.notify()
        return future

    def close(self, timeout: float = 10) -> bool:
        """Cancel everything and stop the worker; whether it stopped within `timeout`."""
        with self._cond:
            self._closed = True
            for job in self._pending:
                job.request.cancel.set()
            if self._running is not None:
                self._running.request.cancel.set()
            self._cond.notify_all()
        self._worker.join(timeout=timeout)
        return not self._worker.is_alive()

    def _drop_cancelled(self) -> None:
        """Answer and remove the queued jobs nobody waits for any more (lock held)."""
        live: deque[_Job] = deque()
        for job in self._pending:
            if job.future.cancelled():
                self._count_cancelled(job)
            elif job.request.cancel.is_set():
                self._count_cancelled(job)
                if job.future.set_running_or_notify_cancel():
                    job.future.set_exception(Cancelled())
            else:
                live.append(job)
        self._pending = live

    def _next_job(self) -> _Job | None:
        """The next live job; None only when the queue is closed. (Skipping cancelled
        jobs must not end the worker: it waits again for the next one.)"""
        with self._cond:
            while True:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return None  # closed
                job = self._pending.popleft()
                # A future cancelled by its owner (asyncio.wrap_future cancels it with the
                # task) must not be touched again: set_exception on it would raise and
                # kill this worker.
                if not job.future.set_running_or_notify_cancel():
                    self._count_cancelled(job)
                    continue
                if job.request.cancel.is_set():
                    self._count_cancelled(job)
                    job.future.set_exception(Cancelled())
                    continue
                self._running = job
                return job

    def _count_cancelled(self, job: _Job) -> None:
        if job.request.background:
            self._stats.warm_cancelled += 1
        else:
            self._stats.cancelled += 1

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                result = self._generate(job.request)
                if job.request.prefetch:
                    self._stats.prefetches += 1
                else:
                    self._stats.add(result)
                job.future.set_result(result)
            except Cancelled as error:
                self._count_cancelled(job)
                job.future.set_exception(error)
            except Exception as error:  # the worker must survive any single request
                self._failed(error)
                job.future.set_exception(error)
            finally:
                with self._cond:
                    self._running = None
