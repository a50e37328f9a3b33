"""The completion pipeline, shared by the LSP handlers and `cl-lsp complete`.

text + cursor -> shape decision -> window and repository context -> token-id prompt
-> engine (streamed, stopped as soon as the post-processor knows the answer) -> clean text.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import tree_sitter as ts

from cl_lsp.config import Settings
from cl_lsp.core.block_scope import block_scope
from cl_lsp.core.completion_cache import CompletionCache, prompt_key
from cl_lsp.core.healing import back_off
from cl_lsp.core.languages import detect
from cl_lsp.core.line_encoder import LineEncoder
from cl_lsp.core.postprocess import StreamGuard, clean
from cl_lsp.core.prompt import CONTEXT_MARGIN, Layout, Prompt, choose_layout, fit_prompt
from cl_lsp.core.retrieval import (
    ContextRequest,
    ContextWindow,
    IndexView,
    build_context,
    cached_counter,
)
from cl_lsp.core.shape import Shape, decide_shape
from cl_lsp.core.suggestion import Suggestion
from cl_lsp.core.window import TextWindow, fim_window
from cl_lsp.engine.base import Engine, GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

# Quick start: a document answered from the short prompt goes back to the full one when at
# most this many of its tokens are left to prefill.
_QUICK_TAKEOVER_TOKENS = 32


@dataclass
class CompletionRequest:
    text: str
    offset: int  # string index of the cursor in `text`
    rel_path: str = "untitled"
    language_id: str | None = None
    # Set by the caller when the request is cancelled or superseded.
    cancel: threading.Event = field(default_factory=threading.Event)
    key: str | None = None  # requests with the same key supersede each other
    # The document's syntax tree when it is a parse of exactly `text` (saves a parse).
    tree: ts.Tree | None = None


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
    # Token healing: the text of the prompt's backed-off trailing tokens (b"": none).
    heal: bytes = b""
    # The LRU key: a hash of everything the prompt was built from (None: cache off).
    cache_key: str | None = None
    # Answered from the quick-start prompt (a short window): not this prompt's answer.
    quick: bool = False


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
        # Typing changes the last line of the prompt only: keep the ids of the rest.
        self._encode = LineEncoder(engine.tokenize, engine.spec.sentencepiece_space)
        self.cache = CompletionCache(settings.completion.cache_size)
        self._requested: dict[str, float] = {}  # document key -> last completion request
        # document key -> (rel_path, cursor line, budget, context) of the last context built
        self._sticky: dict[str, tuple[str, int, int, ContextWindow]] = {}
        self.background: Future[GenerationResult] | None = None  # the last quick start's prefill
        self._quick_docs: set[str] = set()  # document keys answered from quick-start prompts
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
        decision = decide_shape(request.text, offset, language, request.tree)
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
        prompt, heal = self._heal(prompt)
        key = None
        if cfg.cache:
            key = prompt_key(
                prompt.layout.value,
                decision.shape.value,
                str(max_tokens),
                context.text if context else "",
                window.prefix,
                window.suffix,
            )
        return Plan(
            decision.shape,
            decision.reason,
            window,
            context,
            prompt,
            max_tokens,
            language,
            heal=heal,
            cache_key=key,
        )

    def _heal(self, prompt: Prompt) -> tuple[Prompt, bytes]:
        """Back off a trailing partial token (SPM and prefix-only prompts end with the
        prefix); the engine makes the generation spell it first."""
        if not self.settings.completion.token_healing or prompt.layout is Layout.PSM:
            return prompt, b""
        table = getattr(self.engine, "piece_table", None)
        if table is None:
            return prompt, b""
        # Keep the prefix segment's first token: it carries SentencePiece's dummy space.
        backed = back_off(prompt.ids, table, keep=prompt.stable_head + 1)
        if not backed.tokens:
            return prompt, b""
        ids = prompt.ids[: len(prompt.ids) - backed.tokens]
        return Prompt(ids, prompt.layout, prompt.stable_head), backed.text

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
        # Sticky context: the block sits ahead of the prefix, so any change to it makes the
        # model re-read the whole prefix. While the cursor stays near where it was built
        # (typing down through a function), keep it; refresh when the cursor moves away.
        line = request.text.count("\n", 0, offset)
        sticky = self.settings.context.sticky_lines
        previous = self._sticky.get(request.key) if request.key is not None else None
        if previous is not None and sticky > 0:
            rel_path, anchor, old_budget, old_context = previous
            if (
                rel_path == request.rel_path
                and old_budget == budget
                and abs(line - anchor) <= sticky
            ):
                return old_context
        context = build_context(
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
        if request.key is not None:
            self._sticky[request.key] = (request.rel_path, line, budget, context)
        return context

    def forget(self, key: str) -> None:
        """A document closed: drop what was kept for it."""
        self._sticky.pop(key, None)
        self._requested.pop(key, None)
        self._quick_docs.discard(key)
        self.cache.forget(key)

    def _token_count(self, text: str) -> int:
        return len(self.engine.tokenize(text))

    def _fit_prompt(
        self, window: TextWindow, context: ContextWindow | None, max_tokens: int
    ) -> Prompt:
        """Build the prompt; when it does not fit the context, drop context, then prefix."""
        return fit_prompt(
            self.engine.spec,
            self._encode,
            context.text if context else "",
            window.prefix,
            window.suffix,
            self.layout,
            self.engine.n_ctx - max_tokens - CONTEXT_MARGIN,
        )

    def start(self, request: CompletionRequest, plan: Plan) -> Future[GenerationResult] | None:
        """Submit the planned prompt to the engine; None when there is nothing to run."""
        if plan.prompt is None or plan.window is None or not plan.prompt.ids:
            return None  # e.g. a prefix-only model (no BOS) at the very start of a file
        quick = self._quick_plan(request, plan)
        if quick is None:
            return self._submit(request, plan)
        future = self._submit(request, quick)
        # The full prompt, after the answer at the lowest priority: a keystroke cancels it,
        # and what it evaluated stays (in the cache or a saved state) for the next one.
        warm = GenerationRequest(ids=plan.prompt.ids, max_tokens=0, warm=True)
        self.background = self.engine.submit(warm)
        plan.quick = True
        return future

    def _quick_plan(self, request: CompletionRequest, plan: Plan) -> Plan | None:
        """A short-window plan when the engine holds little of this prompt: a cursor at a
        new place would otherwise wait for thousands of tokens of prefill (minutes for a
        7B model on a CPU). Editor documents only: the CLI wants the full answer."""
        cfg = self.settings.completion
        reusable = getattr(self.engine, "reusable_tokens", None)
        if cfg.quick_start_tokens <= 0 or request.key is None or reusable is None:
            return None
        assert plan.prompt is not None
        # Hysteresis: once answering quickly, stay until the full prompt is (nearly) all
        # prefilled, so that taking over costs a keystroke no long prefill.
        quick_now = request.key in self._quick_docs
        limit = _QUICK_TAKEOVER_TOKENS if quick_now else cfg.quick_start_tokens
        if len(plan.prompt.ids) - reusable(plan.prompt.ids) <= limit:
            self._quick_docs.discard(request.key)
            return None
        self._quick_docs.add(request.key)
        offset = max(0, min(request.offset, len(request.text)))
        lines = max(1, cfg.quick_start_lines)
        # Its start moves every lines/2 lines (not the full window's 32): the short prompt's
        # KV entries are reused while the user types on, until the full prompt takes over.
        window = fim_window(
            request.text,
            offset,
            max_prefix_lines=lines,
            max_suffix_lines=max(1, lines // 4),
            chunk=max(1, lines // 2),
        )
        prompt, heal = self._heal(self._fit_prompt(window, None, plan.max_tokens))
        if len(prompt.ids) >= len(plan.prompt.ids):
            return None  # the window is small anyway
        return dataclasses.replace(
            plan, window=window, context=None, prompt=prompt, heal=heal, cache_key=None, quick=True
        )

    def _submit(
        self, request: CompletionRequest, plan: Plan, prefetch: bool = False
    ) -> Future[GenerationResult]:
        assert plan.prompt is not None and plan.window is not None
        # Scope from the whole document and its tree (the window may start mid-function).
        cut, text = max(0, min(request.offset, len(request.text))), request.text
        lines = plan.shape is Shape.LINE
        scope = None if lines else block_scope(text[:cut], text[cut:], plan.language, request.tree)
        guard = StreamGuard(
            plan.window.prefix,
            plan.window.suffix,
            plan.shape,
            plan.language,
            self.settings.completion.max_lines,
            scope,
        )
        generation = GenerationRequest(
            ids=plan.prompt.ids,
            max_tokens=plan.max_tokens,
            stop_ids=self.engine.stop_ids,
            should_stop=guard.feed,
            time_limit_s=self.settings.completion.time_limit_ms / 1000,
            prefill_limit_s=self.settings.completion.prefill_limit_ms / 1000 or None,
            key=None if prefetch else request.key,  # a guess must not supersede the real one
            cancel=request.cancel,
            heal_prefix=plan.heal,
            speculative=self.settings.completion.speculative,
            prefetch=prefetch,
        )
        return self.engine.submit(generation)

    def warm(self, plan: Plan) -> Future[GenerationResult] | None:
        """Prefill the planned prompt with no generation, at the lowest priority: any real
        request cancels it, and what it evaluated stays in the KV cache for the next one."""
        if plan.prompt is None or not plan.prompt.ids or not self.settings.completion.warm:
            return None
        return self.engine.submit(
            GenerationRequest(ids=plan.prompt.ids, max_tokens=0, warm=True, key=None)
        )

    def prefetch_next(
        self,
        request: CompletionRequest,
        suggestion: Suggestion,
        plan: Callable[[CompletionRequest], Plan] | None = None,
    ) -> Future[GenerationResult] | None:
        """Compute, at the lowest priority, the suggestion that follows accepting the one
        shown (llama.vim's speculative FIM), into the LRU: accepting with Tab then finds
        the next one ready. Any real request cancels it. `plan` is the caller's planner
        (the server's adds recent edits and open documents), so that the accepted text's
        real request builds the same prompt and hits the cache."""
        cfg = self.settings.completion
        if not (cfg.prefetch_next and cfg.cache and suggestion.text) or request.key is None:
            return None
        offset = max(0, min(request.offset, len(request.text)))
        end = offset + suggestion.replace_suffix_chars
        text = request.text[:offset] + suggestion.text + request.text[end:]
        after = CompletionRequest(
            text,
            offset + len(suggestion.text),
            request.rel_path,
            request.language_id,
            key=request.key,  # the same document: its sticky context
        )
        planned = (plan or self.plan)(after)
        if planned.prompt is None or planned.cache_key is None or not planned.prompt.ids:
            return None
        if self.cache.get(planned.cache_key) is not None:
            return None  # already known
        future = self._submit(after, planned, prefetch=True)
        # Resolved only once the answer is in the cache: a Tab right after finds it there
        # (the engine's future wakes its waiters before its callbacks run).
        remembered: Future[GenerationResult] = Future()

        def done(finished: Future[GenerationResult]) -> None:
            if finished.cancelled():
                remembered.cancel()
                return
            error = finished.exception()
            if error is not None:
                remembered.set_exception(error)
                return
            result = finished.result()
            try:
                self.remember(after, planned, self.finish(after, planned, result))
            finally:
                remembered.set_result(result)

        future.add_done_callback(done)
        return remembered

    def note_request(self, key: str) -> None:
        self._requested[key] = time.monotonic()

    def requested_since(self, key: str, since: float) -> bool:
        """Whether a completion was requested for `key` after the monotonic time `since`."""
        return self._requested.get(key, float("-inf")) >= since

    # -- answers without the model ----------------------------------------------------
    def typed_through(self, request: CompletionRequest) -> Suggestion | None:
        """The rest of the suggestion on screen, when the user typed its beginning."""
        if not self.settings.completion.cache or request.key is None:
            return None
        found = self.cache.typed_through(request.key, request.text, request.offset)
        if found is not None:
            self.engine.stats.typed_through_hits += 1
            self.engine.stats.cache_hits += 1
            self.shown(request, found)
        return found

    def recall(self, request: CompletionRequest, plan: Plan) -> Suggestion | None:
        """A completion computed for the same prompt text recently."""
        if plan.cache_key is None:
            return None
        found = self.cache.get(plan.cache_key)
        if found is not None:
            self.engine.stats.lru_hits += 1
            self.engine.stats.cache_hits += 1
            self.shown(request, found)
        return found

    def remember(self, request: CompletionRequest, plan: Plan, completion: Completion) -> None:
        """Keep a model answer for its prompt (the LRU)."""
        if plan.cache_key is not None and completion.result is not None and not plan.quick:
            # A cut answer is not the answer, and a failed one must not outlive the failure.
            if completion.result.stop_reason not in ("time_limit", "error"):
                suggestion = Suggestion(completion.text, completion.replace_suffix_chars)
                self.cache.put(plan.cache_key, suggestion)

    def shown(self, request: CompletionRequest, suggestion: Suggestion) -> None:
        """The editor now shows `suggestion` at the request's cursor (typed-through)."""
        if self.settings.completion.cache and request.key is not None:
            self.cache.show(request.key, request.text, request.offset, suggestion)

    def finish(
        self, request: CompletionRequest, plan: Plan, result: GenerationResult
    ) -> Completion:
        """Clean the model's raw text against the document."""
        assert plan.window is not None
        offset = max(0, min(request.offset, len(request.text)))
        cleaned: Suggestion = clean(
            result.text,
            request.text[:offset],
            request.text[offset:],
            plan.shape,
            plan.language,
            max_lines=self.settings.completion.max_lines,
            tree=request.tree,  # the document's own: saves the syntax guard a full parse
        )
        return Completion(cleaned.text, cleaned.replace_suffix_chars, plan, result.text, result)

    def complete(self, request: CompletionRequest, **plan_options: object) -> Completion:
        """Plan, generate and clean, blocking (for the CLI and benchmarks)."""
        plan = self.plan(request, **plan_options)  # type: ignore[arg-type]
        future = self.start(request, plan)
        if future is None:
            return Completion("", 0, plan)
        return self.finish(request, plan, future.result())
