"""Run the model for code actions: docstrings by infilling, fix-its that are verified.

Blocking functions, called on a worker thread (the LSP handlers) or directly (benchmarks).
Every model call is a `GenerationRequest` on the shared engine carrying the caller's
cancel event, so cancelling a `codeAction/resolve` stops the generation loop.

Prompt modes, from what the model can do:
- "fim": the model infills (Code Llama and other FIM families). Docstrings are written
  piece by piece into a rendered skeleton (summary, then each parameter, then the return
  value): the prefix ends inside the docstring, the suffix holds the rest of the skeleton,
  its closing delimiter and the code it documents. Fix-its infill the region, with the
  diagnostic and the old lines as a comment in front of it.
- "chat": no FIM tokens but a chat template (Code Llama - Instruct, SmolLM2-Instruct): the
  template is rendered in a sandboxed Jinja environment and tokenized with its control
  tokens as ids; the question shows the code and asks for one piece.
- "prefix": neither; the prompt shows the definition, then starts its documented copy.

The pure parts live in core/: where documentation goes (doc_slots), how it is rendered
(doc_render), fix regions and verification (fixits), stop rules and reply tidying
(action_replies); the chat template in engine/chat_format.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cl_lsp.config import Settings
from cl_lsp.core.action_replies import (
    first_sentence_line,
    stop_after_fence,
    stop_after_lines,
    stop_at_line_after_text,
    stop_at_newline,
    tidy_answer,
)
from cl_lsp.core.doc_render import DocParts, detect_python_style, doc_frame, render_doc
from cl_lsp.core.doc_slots import DocSlot
from cl_lsp.core.fixits import (
    Region,
    Verdict,
    char_changes,
    fix_candidates,
    fix_region,
    hint_comment,
    verify_fix,
)
from cl_lsp.core.languages import spec_by_name
from cl_lsp.core.prompt import CONTEXT_MARGIN, Layout, choose_layout, fit_prompt
from cl_lsp.core.retrieval import ContextRequest, IndexView, build_context, cached_counter
from cl_lsp.core.syntax_tree import SourceText, syntax_problems
from cl_lsp.core.text_edit import Edit, minimal_edit
from cl_lsp.core.window import fim_window
from cl_lsp.engine.base import Engine, GenerationRequest, GenerationResult
from cl_lsp.engine.chat_format import ChatFormat

log = logging.getLogger(__name__)

SUMMARY_TOKENS = 48
PIECE_TOKENS = 28
FIX_MAX_TOKENS = 384
PREFIX_LINES = 120
SUFFIX_LINES = 80


# --------------------------------------------------------------------------- results


@dataclass
class DocResult:
    slot: DocSlot
    edit: Edit
    parts: DocParts
    style: str
    generations: int = 0
    seconds: float = 0.0


@dataclass
class FixResult:
    region: Region
    edit: Edit | None  # None: no candidate passed verification
    verdicts: list[tuple[str, Verdict]] = field(default_factory=list)
    raw: str = ""
    source: str = "model"  # "model" | "parser" (tree-sitter's missing token)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.edit is not None


# --------------------------------------------------------------------------- the service


class ActionsService:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        index: IndexView | None = None,
        chat: ChatFormat | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.index = index
        self.chat = chat
        self.layout = choose_layout(engine.spec, settings.completion.fim_layout)
        if self.layout is not Layout.PREFIX:
            self.mode = "fim"
        elif chat is not None:
            self.mode = "chat"
        else:
            self.mode = "prefix"
        self._count = cached_counter(lambda text: len(engine.tokenize(text)))

    # -- plumbing -------------------------------------------------------------------------
    def _generate(
        self,
        ids: list[int],
        max_tokens: int,
        cancel: threading.Event,
        should_stop: Callable[[str], bool] | None = None,
    ) -> GenerationResult:
        request = GenerationRequest(
            ids=ids,
            max_tokens=max_tokens,
            stop_ids=self.engine.stop_ids,
            should_stop=should_stop,
            time_limit_s=max(1.0, self.settings.completion.time_limit_ms / 1000) * 4,
            cancel=cancel,
        )
        return self.engine.submit(request).result()

    def _context(self, text: str, offset: int, language: str, rel_path: str) -> str:
        budget = self.settings.context.budget_tokens
        if self.index is None or not self.settings.context.enabled or budget <= 0:
            return ""
        try:
            window = build_context(
                ContextRequest(
                    rel_path=rel_path,
                    language=language,
                    text=text,
                    offset=offset,
                    budget_tokens=min(budget, self.engine.n_ctx // 4),
                ),
                self.index,
                self._count,
            )
        except Exception:  # context is a bonus; never fail an action on it
            log.exception("repository context failed")
            return ""
        return window.text

    def _fim_ids(self, head: str, prefix: str, suffix: str, max_tokens: int) -> list[int]:
        """A FIM (or prefix-only) prompt that fits the context: drop context, then trim."""
        layout = self.layout if self.mode == "fim" else Layout.PREFIX
        limit = self.engine.n_ctx - max_tokens - CONTEXT_MARGIN
        prompt = fit_prompt(
            self.engine.spec, self.engine.tokenize, head, prefix, suffix, layout, limit, 16
        )
        return prompt.ids

    def _chat_ids(self, question: str, max_tokens: int) -> list[int]:
        assert self.chat is not None
        limit = self.engine.n_ctx - max_tokens - CONTEXT_MARGIN
        while True:
            text = self.chat.render([{"role": "user", "content": question}])
            ids = self.chat.encode(text, self.engine.tokenize)
            if len(ids) <= limit or len(question) < 64:
                return ids
            question = question[: len(question) * 2 // 3]

    # -- docstrings -----------------------------------------------------------------------
    def python_style(self, text: str) -> str:
        return detect_python_style(text)

    def docstring(
        self,
        text: str,
        language: str,
        slot: DocSlot,
        *,
        rel_path: str = "untitled",
        cancel: threading.Event | None = None,
        style: str | None = None,
        params: bool = True,
    ) -> DocResult:
        """Write the documentation of one definition; the edit inserts or replaces it."""
        cancel = cancel or threading.Event()
        started = time.perf_counter()
        if language == "python" and style is None:
            style = self.python_style(text)
        style = style or "google"
        # The skeleton the model fills in: every piece present, empty until written.
        parts = DocParts(
            "",
            {p: "" for p in slot.params} if params else {},
            "" if params and slot.returns else None,
        )
        pieces = ["summary"]
        if params:
            pieces += [f"param:{p}" for p in slot.params]
            if slot.returns:
                pieces.append("returns")
        head = self._context(text, slot.insert, language, rel_path) if self.mode != "chat" else ""
        generations = 0
        for piece in pieces:
            written = self._doc_piece(text, language, slot, parts, style, piece, head, cancel)
            generations += 1
            parts.set_piece(piece, written)
        # Pieces the model left empty are left out, not rendered as empty tags.
        parts.params = {k: v for k, v in parts.params.items() if v.strip()}
        if parts.returns is not None and not parts.returns.strip():
            parts.returns = None
        rendered = render_doc(slot, parts, style)
        start, end = slot.span
        edit = (
            minimal_edit(text, start, end, rendered)
            if slot.existing
            else Edit(start, end, rendered)
        )
        return DocResult(slot, edit, parts, style, generations, time.perf_counter() - started)

    def _doc_piece(
        self,
        text: str,
        language: str,
        slot: DocSlot,
        parts: DocParts,
        style: str,
        piece: str,
        head: str,
        cancel: threading.Event,
    ) -> str:
        max_tokens = SUMMARY_TOKENS if piece == "summary" else PIECE_TOKENS
        frame = doc_frame(slot, parts, style, piece)
        after_doc = slot.existing[1] if slot.existing else slot.insert
        if self.mode == "chat":
            ids = self._chat_ids(self._doc_question(text, language, slot, piece), max_tokens)
            result = self._generate(ids, max_tokens, cancel, stop_at_line_after_text())
            return tidy_answer(first_sentence_line(result.text), slot, piece)
        if self.mode == "fim":
            prefix = text[: slot.insert] + frame.before
            suffix = frame.after + text[after_doc:]
        else:
            # Prefix-only: show the definition first, then start its documented copy.
            definition = text[slot.def_start : slot.def_end]
            if slot.existing:
                definition = (
                    text[slot.def_start : slot.existing[0]] + text[after_doc : slot.def_end]
                )
            prefix = (
                text[: slot.def_start]
                + definition
                + "\n\n"
                + text[slot.def_start : slot.insert]
                + frame.before
            )
            suffix = ""
        window = fim_window(
            prefix + suffix,
            len(prefix),
            max_prefix_lines=PREFIX_LINES,
            max_suffix_lines=SUFFIX_LINES,
        )
        ids = self._fim_ids(head, window.prefix, window.suffix, max_tokens)
        result = self._generate(ids, max_tokens, cancel, stop_at_newline())
        return result.text.split("\n", 1)[0]

    def _doc_question(self, text: str, language: str, slot: DocSlot, piece: str) -> str:
        name = _title(language)
        end = slot.def_end
        lines = text[slot.def_start : end].split("\n")
        code = "\n".join(lines[:60])
        if piece == "summary":
            ask = (
                f"Write a one-sentence summary of what the {slot.kind} `{slot.name}` does, "
                "for its documentation comment. Reply with the sentence only."
            )
        elif piece.startswith("param:"):
            ask = (
                f"In a few words, describe the parameter `{piece[6:]}` of `{slot.name}`. "
                "Reply with the description only."
            )
        else:
            ask = f"In a few words, what does `{slot.name}` return? Reply with that only."
        return f"```{name.lower()}\n{code}\n```\n{ask}"

    # -- fix-its --------------------------------------------------------------------------
    def fix(
        self,
        text: str,
        language: str,
        start: int,
        end: int,
        message: str,
        *,
        rel_path: str = "untitled",
        cancel: threading.Event | None = None,
        syntax: bool = True,
        parser_hints: bool = False,
    ) -> FixResult:
        """Rewrite the smallest statement around [start, end) so the problem goes away.

        The rewrite is offered (`FixResult.edit`) only when `verify_fix` accepts it.
        """
        cancel = cancel or threading.Event()
        started = time.perf_counter()
        src = SourceText(text, language)
        region = fix_region(src, start, end)
        diag_line = text.count("\n", 0, start)
        old = region.text(text)
        spec = spec_by_name(language)
        comment = spec.line_comment if spec else "#"
        result = FixResult(region, None)
        first = old.split("\n", 1)[0]
        indent = first[: len(first) - len(first.lstrip(" \t"))]
        max_lines = old.count("\n") + 3
        budget = min(FIX_MAX_TOKENS, 3 * self._count(old) + 32)
        if self.mode == "chat":
            name = _title(language)
            question = (
                f"This {name} code has a syntax error ({message}):\n```{name.lower()}\n"
                f"{old.rstrip()}\n```\nReply with the corrected code only, in a code block."
            )
            ids = self._chat_ids(question, budget)
            raw = self._generate(ids, budget, cancel, stop_after_fence(max_lines + 2)).text
        else:
            hint = hint_comment(language, message, old, comment)
            head = self._context(text, region.start, language, rel_path)
            window = fim_window(
                text[: region.start] + hint + text[region.end :],
                region.start + len(hint),
                max_prefix_lines=PREFIX_LINES,
                max_suffix_lines=SUFFIX_LINES,
            )
            suffix = window.suffix if self.mode == "fim" else ""
            ids = self._fim_ids(head, window.prefix, suffix, budget)
            raw = self._generate(ids, budget, cancel, stop_after_lines(max_lines)).text
        result.raw = raw
        accepted: list[tuple[int, int, str]] = []
        for order, candidate in enumerate(fix_candidates(raw, old, indent)):
            verdict = verify_fix(
                src, region, candidate, diag_line, syntax=syntax, max_word_changes=3
            )
            result.verdicts.append((candidate, verdict))
            if verdict.ok:
                accepted.append((sum(char_changes(old, candidate)), order, candidate))
        if accepted:
            best = min(accepted)[2]  # the smallest change wins
            result.edit = minimal_edit(text, region.start, region.end, best)
        if result.edit is None and parser_hints and syntax:
            self._parser_fix(src, region, diag_line, result)
        result.seconds = time.perf_counter() - started
        return result

    def _parser_fix(self, src: SourceText, region: Region, diag_line: int, out: FixResult) -> None:
        """tree-sitter's own repair: insert the token a MISSING node stands for."""
        for problem in syntax_problems(src):
            if problem.missing is None or not region.start <= problem.start <= region.end:
                continue
            if not problem.missing.strip() or problem.missing.isidentifier():
                continue  # a missing identifier or keyword is a guess, not a repair
            old = region.text(src.text)
            cut = problem.start - region.start
            candidate = old[:cut] + problem.missing + old[cut:]
            verdict = verify_fix(src, region, candidate, diag_line)
            out.verdicts.append((candidate, verdict))
            if verdict.ok:
                out.edit = minimal_edit(src.text, region.start, region.end, candidate)
                out.source = "parser"
                return


def make_service(
    engine: Engine, settings: Settings, index: Any = None, chat: ChatFormat | None = None
) -> ActionsService:
    """The service for a loaded model; its chat format is used only when it cannot infill."""
    return ActionsService(engine, settings, index, chat if engine.spec.fim is None else None)


def _title(language: str) -> str:
    """How prompts name a language ("C#"); our key where it is not one of ours."""
    spec = spec_by_name(language)
    return spec.title if spec is not None else language
