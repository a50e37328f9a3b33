"""`python -m tests.e2e.fake_server --stdio MODE`: cl-lsp with a scripted engine.

Modes (the engine is loaded instantly; its "model" is a byte tokenizer):
  echo        every request answers `value + 1` after 20 ms
  hang-first  the first real request never completes; later ones answer like echo
  hang-all    nothing ever completes (the guard's stall deadline is 2 s here)
  raise       submit() raises RuntimeError for the first 3 real requests
  fail        the future fails with RuntimeError for the first 3 real requests
  plan-raise  the server's planning step raises for the first request (a handler bug)
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import Future

from cl_lsp.config import Settings
from cl_lsp.core.prompt import FimTokens, PromptSpec
from cl_lsp.engine.base import Cancelled, EngineStats, GenerationRequest, GenerationResult
from cl_lsp.engine.guarded import GuardedEngine

_BYTE0 = 3
PRE, SUF, MID, EOT = 259, 260, 261, 262


class FakeEngine:
    def __init__(self, mode: str, answer: str = "value + 1") -> None:
        self.mode = mode
        self.answer = answer
        self.calls = 0
        self._stats = EngineStats()
        self._lock = threading.Lock()
        self.hung: list[Future[GenerationResult]] = []  # kept alive, never completed

    spec = PromptSpec(
        fim=FimTokens("codellama", PRE, SUF, MID, spm_trained=True),
        bos=1,
        sentencepiece_space=False,
    )
    stop_ids = frozenset({EOT})
    n_ctx = 8192
    description = "fake engine"

    @property
    def stats(self) -> EngineStats:
        return self._stats

    def tokenize(self, text: str) -> list[int]:
        return [b + _BYTE0 for b in text.encode("utf-8", "surrogatepass")]

    def detokenize(self, ids: list[int]) -> str:
        data = bytes(i - _BYTE0 for i in ids if _BYTE0 <= i < _BYTE0 + 256)
        return data.decode("utf-8", "replace")

    def _result(self, request: GenerationRequest, text: str) -> GenerationResult:
        return GenerationResult(
            text, self.tokenize(text), len(request.ids), 0, 0.0, 0.0, "stop_token"
        )

    def submit(self, request: GenerationRequest) -> Future[GenerationResult]:
        future: Future[GenerationResult] = Future()
        if request.warm:
            future.set_result(GenerationResult("", [], len(request.ids), 0, 0.0, 0.0, "warm"))
            return future
        with self._lock:
            self.calls += 1
            n = self.calls
        if self.mode == "raise" and n <= 3:
            raise RuntimeError(f"engine exploded on call {n}")
        if self.mode == "fail" and n <= 3:
            future.set_exception(RuntimeError(f"generation failed on call {n}"))
            return future
        if self.mode == "hang-all" or (self.mode == "hang-first" and n == 1):
            self.hung.append(future)  # never completed, never even looks at cancel
            return future

        def run() -> None:
            deadline = time.monotonic() + 0.02
            while time.monotonic() < deadline:
                if request.cancel.is_set():
                    future.set_exception(Cancelled())
                    return
                time.sleep(0.002)
            future.set_result(self._result(request, self.answer))

        threading.Thread(target=run, daemon=True).start()
        return future

    def close(self) -> None:
        pass


def main() -> int:
    from cl_lsp.server import create_server

    args = [a for a in sys.argv[1:] if a != "--stdio"]
    mode = args[0] if args else "echo"
    engine = FakeEngine(mode)
    server = create_server(Settings(), load_engine=lambda settings: engine)
    if mode == "hang-all":
        plain_guard = server.guard_engine

        def guard(inner):  # type: ignore[no-untyped-def]
            guarded = plain_guard(inner)
            assert isinstance(guarded, GuardedEngine)
            guarded.stall_s = 2.0
            return guarded

        server.guard_engine = guard  # type: ignore[method-assign]
    if mode == "plan-raise":
        plain_plan = server.completions.plan
        raised = []

        def plan(*a, **kw):  # type: ignore[no-untyped-def]
            if not raised:
                raised.append(1)
                raise RuntimeError("injected fault in planning")
            return plain_plan(*a, **kw)

        server.completions.plan = plan  # type: ignore[method-assign]
    lsp_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    server.start_io(sys.stdin.buffer, lsp_out)
    return server.exit_code


if __name__ == "__main__":
    sys.exit(main())
