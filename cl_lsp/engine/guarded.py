"""`GuardedEngine` keeps a failing or hung engine from turning into a failing editor: an
exception from the engine becomes an empty answer, a request the engine sits on past a
generous deadline is given up (and its cancel event set), and the user is told once.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from cl_lsp.engine.base import Cancelled, Engine, GenerationRequest, GenerationResult
from cl_lsp.engine.delegate import EngineDelegate

log = logging.getLogger(__name__)


def _empty(request: GenerationRequest, reason: str) -> GenerationResult:
    return GenerationResult(
        text="",
        tokens=[],
        prompt_tokens=len(request.ids),
        reused_tokens=0,
        prefill_s=0.0,
        generate_s=0.0,
        stop_reason=reason,
    )


class _Watch:
    __slots__ = ("deadline", "call", "active")

    def __init__(self, deadline: float, call: Callable[[], None]) -> None:
        self.deadline = deadline
        self.call = call
        self.active = True

    def __lt__(self, other: _Watch) -> bool:
        return self.deadline < other.deadline


class _Watchdog:
    """One thread for every deadline (a thread per request would cost a thread per
    keystroke, and a malloc arena each under load)."""

    def __init__(self) -> None:
        self._heap: list[_Watch] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def add(self, seconds: float, call: Callable[[], None]) -> _Watch:
        watch = _Watch(time.monotonic() + seconds, call)
        with self._cond:
            heapq.heappush(self._heap, watch)
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(
                    target=self._run, name="cl-lsp-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return watch

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and not self._heap[0].active:
                    heapq.heappop(self._heap)  # settled: forget it
                if self._stopped:
                    return
                if not self._heap:
                    self._cond.wait()
                    continue
                delay = self._heap[0].deadline - time.monotonic()
                if delay > 0:
                    self._cond.wait(min(delay, 1.0))  # wake to drop settled entries
                    continue
                watch = heapq.heappop(self._heap)
            if watch.active:
                try:
                    watch.call()
                except Exception:
                    log.exception("watchdog callback failed")


class GuardedEngine(EngineDelegate):
    """Engine failures become empty answers plus one message to the user.

    `notify` is called at most once per engine (one load) with a sentence for the user.
    A request still unanswered `stall_s` after it was submitted (None: derived from its
    time limit) is answered empty and its cancel event set, so a hung backend cannot hold
    an editor's request forever; the engine itself is left to finish or not.
    """

    def __init__(
        self,
        inner: Engine,
        notify: Callable[[str], None],
        stall_s: float | None = None,
        min_stall_s: float = 30.0,
    ) -> None:
        super().__init__(inner)
        self._notify = notify
        self._told = False
        self._told_lock = threading.Lock()
        self.stall_s = stall_s
        self.min_stall_s = min_stall_s
        self.failures = 0
        self.stalls = 0
        self._watchdog = _Watchdog()

    def close(self) -> None:
        self._watchdog.stop()
        self.inner.close()

    def _tell_once(self, message: str) -> None:
        with self._told_lock:
            if self._told:
                return
            self._told = True
        try:
            self._notify(message)
        except Exception:  # the message is a courtesy; never fail a request over it
            log.exception("cannot tell the user: %s", message)

    def _failed(self, request: GenerationRequest, error: BaseException) -> GenerationResult:
        self.failures += 1
        log.error("the model failed on a request: %r", error)
        self._tell_once(
            f"cl-lsp: the model failed ({type(error).__name__}: {error}); "
            "completions are empty until it recovers. See the server log for details."
        )
        return _empty(request, "error")

    def _deadline(self, request: GenerationRequest) -> float:
        if self.stall_s is not None:
            return self.stall_s
        limit = request.time_limit_s or 0.0
        return max(self.min_stall_s, 3 * limit)

    def submit(self, request: GenerationRequest) -> Future[GenerationResult]:
        outer: Future[GenerationResult] = Future()
        try:
            inner = self.inner.submit(request)
        except Cancelled as error:
            outer.set_exception(error)
            return outer
        except Exception as error:
            outer.set_result(self._failed(request, error))
            return outer
        watch: _Watch | None = None

        def settle(done: Future[GenerationResult]) -> None:
            if watch is not None:
                watch.active = False
            if outer.done():
                return
            try:
                if done.cancelled():
                    outer.cancel()
                    return
                error = done.exception()
                if error is None:
                    outer.set_result(done.result())
                elif isinstance(error, Cancelled) or request.cancel.is_set():
                    outer.set_exception(error)  # cancelled or superseded: not a failure
                else:
                    outer.set_result(self._failed(request, error))
            except Exception:  # outer was completed meanwhile (stall, cancel): fine
                log.debug("late engine answer dropped", exc_info=True)

        def stalled() -> None:
            if inner.done() or outer.done() or request.cancel.is_set():
                return
            self.stalls += 1
            request.cancel.set()
            log.error("the model did not answer within %.0f s: request given up", waited)
            self._tell_once(
                f"cl-lsp: the model did not answer within {waited:.0f} s; "
                "completions are empty until it recovers. See the server log for details."
            )
            try:
                outer.set_result(_empty(request, "error"))
            except Exception:
                log.debug("stalled request completed meanwhile", exc_info=True)

        def cancel_inner(done: Future[GenerationResult]) -> None:
            # Through the request's event only: cancelling the engine's own future while
            # it is queued would make its worker's later set_exception raise.
            if done.cancelled():
                request.cancel.set()

        if not request.warm:
            waited = self._deadline(request)
            watch = self._watchdog.add(waited, stalled)
        outer.add_done_callback(cancel_inner)
        inner.add_done_callback(settle)
        return outer
