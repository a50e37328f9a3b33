"""The completion pipeline, shared by the LSP handlers and `cl-lsp complete`.

text + cursor -> shape decision -> window and repository context -> token-id prompt
-> engine (streamed, stopped as soon as the post-processor knows the answer) -> clean text.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from cl_lsp.config import Settings
from cl_lsp.core.languages import detect
from cl_lsp.core.postprocess import Cleaned, StreamGuard, clean
from cl_lsp.core.prompt import Layout, Prompt, build_prompt, choose_layout
from cl_lsp.core.retrieval import (
    ContextRequest,
    ContextWindow,
    IndexView,
    build_context,
    cached_counter,
)
from cl_lsp.core.shape import Shape, decide_shape
from cl_lsp.core.window import TextWindow, fim_window
from cl_lsp.engine.base import Engine, GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

# Tokens kept free at the end of the context window (llama.cpp needs a little headroom).
_CTX_MARGIN = 8


@dataclass
class CompletionRequest:
    text: str
    offset: int  # string index of the cursor in `text`
    rel_path: str = "untitled"
    language_id: str | None = None
    # Set by the caller when the request is cancelled or superseded.
    cancel: threading.Event = field(default_factory=threading.Event)
    key: str | None = None  # requests with the same key supersede each other


@dataclass
class Plan:
    """Everything decided before the model runs; `explain` prints it."""

    shape: Shape
    reason: str
    window: TextWindow | None = None
    context: ContextWindow | None = None
    prompt: Prompt | None = None
    max_tokens: int = 0
    language: str | None = None


@dataclass
class Completion:
    text: str
    replace_suffix_chars: int
    plan: Plan
    raw: str = ""
    result: GenerationResult | None = None


class CompletionService:
    """Turns a cursor in a document into a cleaned model completion."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        index: IndexView | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.index = index
        self.layout = choose_layout(engine.spec, settings.completion.fim_layout)
        # One token-count cache for the life of the service: snippets recur every keystroke.
        self._count_tokens = cached_counter(self._token_count)
        if self.layout is Layout.PREFIX:
            log.warning(
                "%s has no fill-in-the-middle tokens: completions see the prefix only",
                engine.description,
            )

    def plan(
        self,
        request: CompletionRequest,
        *,
        recent_edits: list[tuple[str, str]] | None = None,
        open_documents: dict[str, str] | None = None,
        budget_tokens: int | None = None,
    ) -> Plan:
        """Decide the completion's shape and build its prompt (no model call)."""
        spec = detect(request.rel_path, request.language_id)
        language = spec.name if spec else None
        offset = max(0, min(request.offset, len(request.text)))
        decision = decide_shape(request.text, offset, language)
        cfg = self.settings.completion
        window = fim_window(
            request.text,
            offset,
            max_prefix_lines=cfg.max_prefix_lines,
            max_suffix_lines=cfg.max_suffix_lines,
        )
        if decision.shape is Shape.NONE:
            return Plan(decision.shape, decision.reason, window, language=language)
        max_tokens = cfg.max_tokens if decision.shape is Shape.LINE else cfg.max_block_tokens
        context = self._context(
            request, language, offset, recent_edits, open_documents, budget_tokens
        )
        prompt = self._fit_prompt(window, context, max_tokens)
        return Plan(decision.shape, decision.reason, window, context, prompt, max_tokens, language)

    def _context(
        self,
        request: CompletionRequest,
        language: str | None,
        offset: int,
        recent_edits: list[tuple[str, str]] | None,
        open_documents: dict[str, str] | None,
        budget_tokens: int | None,
    ) -> ContextWindow | None:
        budget = self.settings.context.budget_tokens if budget_tokens is None else budget_tokens
        if self.index is None or not self.settings.context.enabled or budget <= 0:
            return None
        # Leave room for the in-file window and the answer.
        budget = min(budget, self.engine.n_ctx // 2)
        return build_context(
            ContextRequest(
                rel_path=request.rel_path,
                language=language or "",
                text=request.text,
                offset=offset,
                budget_tokens=budget,
                recent_edits=recent_edits or [],
                open_documents=open_documents or {},
            ),
            self.index,
            self._count_tokens,
        )

    def _token_count(self, text: str) -> int:
        return len(self.engine.tokenize(text))

    def _fit_prompt(
        self, window: TextWindow, context: ContextWindow | None, max_tokens: int
    ) -> Prompt:
        """Build the prompt; when it does not fit the context, drop context, then prefix."""
        limit = self.engine.n_ctx - max_tokens - _CTX_MARGIN
        head = context.text if context else ""
        prefix, suffix = window.prefix, window.suffix
        while True:
            prompt = build_prompt(
                self.engine.spec, self.engine.tokenize, head + prefix, suffix, self.layout
            )
            if len(prompt.ids) <= limit:
                return prompt
            if head:
                head = ""
            elif len(suffix) > len(prefix) // 2 and suffix:
                suffix = suffix[: len(suffix) // 2]
            elif prefix:
                prefix = prefix[len(prefix) // 2 :]
            else:
                return prompt  # nothing left to cut: the engine reports the overflow

    def start(self, request: CompletionRequest, plan: Plan) -> Future[GenerationResult] | None:
        """Submit the planned prompt to the engine; None when there is nothing to run."""
        if plan.prompt is None or plan.window is None:
            return None
        guard = StreamGuard(
            plan.window.prefix,
            plan.window.suffix,
            plan.shape,
            plan.language,
            self.settings.completion.max_lines,
        )
        generation = GenerationRequest(
            ids=plan.prompt.ids,
            max_tokens=plan.max_tokens,
            stop_ids=self.engine.stop_ids,
            should_stop=guard.feed,
            time_limit_s=self.settings.completion.time_limit_ms / 1000,
            key=request.key,
            cancel=request.cancel,
        )
        return self.engine.submit(generation)

    def finish(
        self, request: CompletionRequest, plan: Plan, result: GenerationResult
    ) -> Completion:
        """Clean the model's raw text against the document."""
        assert plan.window is not None
        offset = max(0, min(request.offset, len(request.text)))
        cleaned: Cleaned = clean(
            result.text,
            request.text[:offset],
            request.text[offset:],
            plan.shape,
            plan.language,
            max_lines=self.settings.completion.max_lines,
        )
        return Completion(cleaned.text, cleaned.replace_suffix_chars, plan, result.text, result)

    def complete(self, request: CompletionRequest, **plan_options: object) -> Completion:
        """Plan, generate and clean, blocking (for the CLI and benchmarks)."""
        plan = self.plan(request, **plan_options)  # type: ignore[arg-type]
        future = self.start(request, plan)
        if future is None:
            return Completion("", 0, plan)
        return self.finish(request, plan, future.result())
