"""What every inference backend offers the completion service."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from cl_lsp.core.prompt import PromptSpec


class EngineError(Exception):
    """The engine cannot serve: no model, a broken model, a failed load."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} {self.fix}".strip()


class Cancelled(Exception):
    """The request was cancelled or superseded before it finished."""


@dataclass
class GenerationRequest:
    ids: list[int]
    max_tokens: int
    stop_ids: frozenset[int] = frozenset()
    # Called with each newly decoded piece of text; True means "complete, stop generating".
    should_stop: Callable[[str], bool] | None = None
    time_limit_s: float | None = None
    # Prefill alone (None: time_limit_s): past it the suggestion is dropped, but the tokens
    # evaluated so far stay in the KV cache, so the next keystroke continues from there.
    prefill_limit_s: float | None = None
    # Requests with the same key supersede each other: the newest wins (one per document).
    key: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    # Token healing: the text of the prompt tokens backed off the end of the prefix. The
    # first generated token(s) must spell it (a piece that starts with it, or a piece it
    # starts with, and so on); it is not part of the result's text.
    heal_prefix: bytes = b""
    # Warming: prefill only (max_tokens 0), lowest priority; any real request cancels it.
    warm: bool = False
    # Speculative decoding (prompt lookup, verified in one batch): the same greedy output
    # in fewer forward passes when the answer copies from the prompt. False: one a token.
    speculative: bool = True
    # A guess computed ahead (the suggestion after accepting the one shown): the lowest
    # priority, like a warm-up; any real request cancels it.
    prefetch: bool = False

    @property
    def background(self) -> bool:
        return self.warm or self.prefetch


@dataclass
class GenerationResult:
    text: str
    tokens: list[int]
    prompt_tokens: int
    reused_tokens: int  # prompt tokens whose KV entries were kept from the previous request
    prefill_s: float
    generate_s: float
    stop_reason: str  # "stop_token" | "max_tokens" | "complete" | "time_limit" | "warm"
    healed: bool = False  # the generated text began with the request's heal_prefix
    # Forward passes after the prefill (the prefill's last pass gives the first token), and
    # drafted / accepted speculative tokens: generated tokens per pass is the speed-up.
    decode_passes: int = 0
    drafted: int = 0
    accepted: int = 0

    @property
    def evaluated_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens


@dataclass
class EngineStats:
    """Running totals since the engine started (deltas between two reads give one request)."""

    requests: int = 0
    cancelled: int = 0
    prompt_tokens: int = 0
    reused_tokens: int = 0
    generated_tokens: int = 0
    prefill_s: float = 0.0
    generate_s: float = 0.0
    snapshot_saves: int = 0  # KV states saved before a prompt discarded them
    snapshot_restores: int = 0  # prompts served from a saved KV state
    decode_passes: int = 0  # forward passes while generating (see GenerationResult)
    drafted: int = 0  # speculative tokens proposed and verified
    accepted: int = 0  # ... and kept (the output greedy decoding gives anyway)
    max_queue: int = 0  # the most jobs ever waiting (cancelled ones are dropped at once)
    # Token healing: requests whose prompt ended mid-token and was backed off.
    healed: int = 0
    # Warming (prefill with no generation, on didOpen / an idle edit); not in the above.
    warm_requests: int = 0
    warm_cancelled: int = 0
    warm_tokens: int = 0  # prompt tokens the warm-ups evaluated
    warm_s: float = 0.0
    prefetches: int = 0  # next suggestions computed ahead and finished (not in the above)
    # Answers served without the model (the service counts these).
    typed_through_hits: int = 0  # the user typed the start of the suggestion on screen
    lru_hits: int = 0  # the same prompt text was completed recently
    cache_hits: int = 0  # the sum of both

    def add(self, result: GenerationResult) -> None:
        if result.stop_reason == "warm":
            self.warm_requests += 1
            self.warm_tokens += result.evaluated_tokens
            self.warm_s += result.prefill_s
            return
        self.requests += 1
        self.healed += int(result.healed)
        self.prompt_tokens += result.prompt_tokens
        self.reused_tokens += result.reused_tokens
        self.generated_tokens += len(result.tokens)
        self.prefill_s += result.prefill_s
        self.generate_s += result.generate_s
        self.decode_passes += result.decode_passes
        self.drafted += result.drafted
        self.accepted += result.accepted


class EngineFacts:
    """The read-only facts both engines report (the `Engine` protocol's properties but
    `n_ctx`); an engine sets the four fields in its constructor."""

    _spec: PromptSpec
    _stop_ids: frozenset[int]
    _description: str
    _stats: EngineStats

    @property
    def spec(self) -> PromptSpec:
        return self._spec

    @property
    def stop_ids(self) -> frozenset[int]:
        return self._stop_ids

    @property
    def description(self) -> str:
        return self._description

    @property
    def stats(self) -> EngineStats:
        return self._stats


class Engine(Protocol):
    """A loaded model behind one worker: tokenize, and generate from token ids."""

    @property
    def spec(self) -> PromptSpec: ...

    @property
    def stop_ids(self) -> frozenset[int]: ...

    @property
    def n_ctx(self) -> int: ...

    @property
    def description(self) -> str: ...

    @property
    def stats(self) -> EngineStats: ...

    def tokenize(self, text: str) -> list[int]: ...

    def submit(self, request: GenerationRequest) -> Future[GenerationResult]: ...

    def close(self) -> None: ...
