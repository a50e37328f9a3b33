"""The base of engine wrappers: the Engine protocol forwarded to the wrapped engine."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from cl_lsp.core.prompt import PromptSpec
from cl_lsp.engine.base import Engine, EngineStats, GenerationRequest, GenerationResult


class EngineDelegate:
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
