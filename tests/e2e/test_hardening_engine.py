"""The engine's worker under cancellation (issue 8, scenarios 1 and 7), in process."""

from __future__ import annotations

import time
from concurrent.futures import TimeoutError
from pathlib import Path

import pytest

from cl_lsp.config import Settings, merged
from cl_lsp.engine.base import GenerationRequest
from cl_lsp.engine.loader import load_engine


def test_cancelling_a_queued_future_keeps_the_worker_alive(slow_model: Path) -> None:
    """asyncio.wrap_future cancels the engine's Future when the LSP task is cancelled; a
    queued job whose Future is cancelled must not kill the worker (it did: set_exception
    on a cancelled Future raised InvalidStateError out of the worker loop)."""
    settings, _ = merged(
        Settings(), {"model": {"path": str(slow_model), "nCtx": 8192, "nBatch": 64}}
    )
    engine, _ = load_engine(settings.model)
    try:
        ids = engine.tokenize("def f(x):\n    return x\n" * 150)
        running = engine.submit(GenerationRequest(ids=[1, *ids], max_tokens=8, key="a"))
        queued_request = GenerationRequest(ids=[1, *ids[:50]], max_tokens=8, key="b")
        queued = engine.submit(queued_request)
        time.sleep(0.05)
        assert queued.cancel()  # what asyncio.wrap_future does when the task is cancelled
        queued_request.cancel.set()  # what complete_at does next
        running.result(60)
        after = engine.submit(GenerationRequest(ids=[1, *ids[:20]], max_tokens=4, key="c"))
        try:
            after.result(10)  # liveness bound: the worker must still be there
        except TimeoutError:
            pytest.fail("the engine's worker died: the next request was never answered")
    finally:
        engine.close()
