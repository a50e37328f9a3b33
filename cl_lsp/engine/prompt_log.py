"""Engine wrappers the server puts around whatever the loader returns.

- `PromptLogEngine` appends every prompt it is asked to run, detokenized, to a file
  (`CL_LSP_PROMPT_LOG=<file>`): the hardening tests read it to prove that no secret ever
  reaches a prompt, and users can see exactly what the model was shown.
- `GuardedEngine` keeps a failing or hung engine from turning into a failing editor: an
  exception from the engine becomes an empty answer, a request the engine sits on past a
  generous deadline is given up (and its cancel event set), and the user is told once.
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from cl_lsp.core.prompt import PromptSpec
from cl_lsp.engine.base import Cancelled, Engine, EngineStats, GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

PROMPT_LOG_ENV = "CL_LSP_PROMPT_LOG"


class _Delegate:
    """The Engine protocol forwarded to `inner`; other attributes too (piece_table...)."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner

    @property
    def spec(self) -> PromptSpec:
        return self.inner.spec

    @property
    def stop_ids(self) -> frozenset[int]:
        return self.inner.stop_ids

    @property
    def n_ctx(self) -> int:
        return self.inner.n_ctx

    @property
    def description(self) -> str:
        return self.inner.description

    @property
    def stats(self) -> EngineStats:
        return self.inner.stats

    def tokenize(self, text: str) -> list[int]:
        return self.inner.tokenize(text)

    def submit(self, request: GenerationRequest) -> Future[GenerationResult]:
        return self.inner.submit(request)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not found above: optional engine extras.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


class PromptLogEngine(_Delegate):
    """Append each submitted prompt as one JSON line: {"warm", "ids", "prompt"}."""

    def __init__(self, inner: Engine, path: Path | str) -> None:
        super().__init__(inner)
        self.path = Path(path)
        self._lock = threading.Lock()

    def _text(self, ids: list[int]) -> str:
        detokenize = getattr(self.inner, "detokenize", None)
        if detokenize is None:
            return ""
        try:
            return str(detokenize(list(ids)))
        except Exception as error:  # logging must never break a completion
            return f"<detokenize failed: {error}>"

    def submit(self, request: GenerationRequest) -> Future[GenerationResult]:
        record = {"warm": request.warm, "ids": list(request.ids), "prompt": self._text(request.ids)}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as out:
                out.write(line)
        except OSError as error:
            log.warning("cannot write the prompt log %s: %s", self.path, error)
        return self.inner.submit(request)


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


class GuardedEngine(_Delegate):
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
