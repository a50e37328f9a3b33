"""textDocument/codeAction and codeAction/resolve: docstrings and verified fix-its.

- "Generate docstring for `f`" (refactor.rewrite) for the definition at the cursor or
  selection, and the source action "Generate docstrings for N undocumented definitions".
  Their edits are computed in `codeAction/resolve` (cancellable: cancelling the request
  sets the generation's cancel event), or at once for clients without
  `codeAction.resolveSupport` for `edit` (Emacs eglot 1.9).
- Quick fixes for the diagnostics in the request's context (any source) and for our own
  syntax diagnostics. They are computed and verified before they are listed: a fix that
  the verification rejects is never offered.
- Every text that reaches a prompt comes from the prompt gate: a refused file gets one
  disabled action that says why (or nothing), and a resolve checks the gate again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from cl_lsp.actions_service import ActionsService, FixResult, make_service
from cl_lsp.core.doc_slots import DocSlot, doc_slots, slot_at, undocumented
from cl_lsp.core.document import Document
from cl_lsp.core.lru import LRU
from cl_lsp.core.text_edit import Edit
from cl_lsp.engine.base import Cancelled
from cl_lsp.features.base import Feature
from cl_lsp.features.syntax_diagnostics import (
    SOURCE,
    SyntaxDiagnostics,
    language_of,
    syntax_problems,
)
from cl_lsp.gate import PromptText, Refused
from cl_lsp.handlers.positions import lsp_range, offset_of

if TYPE_CHECKING:
    from cl_lsp.server import ClLspServer

log = logging.getLogger(__name__)

KIND_DOCSTRINGS = "source.generateDocstrings"
MAX_FIXES_PER_REQUEST = 3
MAX_EAGER_DOCSTRINGS = 20
# How long a chosen action (codeAction/resolve) waits for a model that is still loading; the
# client can cancel sooner. A 7B model from a cold disk takes tens of seconds.
RESOLVE_LOAD_WAIT_S = 300.0


class CodeActions(Feature):
    """The code-action feature: its executor, the actions service for the loaded model, and
    the verified fix-its of recent requests."""

    def __init__(self, server: ClLspServer, diagnostics: SyntaxDiagnostics) -> None:
        super().__init__(server)
        self.diagnostics = diagnostics  # our own syntax diagnostics, which fix-its fix too
        self.service: ActionsService | None = None
        self.service_engine: Any = None
        self.lock = threading.Lock()
        # Parsing, prompting and waiting on the engine happen here, off the event loop.
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cl-lsp-actions")
        self.fixes: LRU[tuple[Any, ...], FixResult] = LRU(64)

    def register(self) -> None:
        _register(self.server, self)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    def service_for(self, ls: ClLspServer) -> ActionsService | None:
        """The actions service for the loaded engine (created once, off the event loop)."""
        engine = ls.engine
        if engine is None:
            return None
        with self.lock:
            if self.service is None or self.service_engine is not engine:
                index = ls.repository.index if ls.repository else None
                chat = ls.session.chat if ls.session is not None else None
                self.service = make_service(engine, ls.settings, index, chat)
                self.service_engine = engine
            return self.service


def _workspace_edit(document: Document, edits: list[Edit], encoding: str) -> types.WorkspaceEdit:
    text_edits = [
        types.TextEdit(range=lsp_range(document, e.start, e.end, encoding), new_text=e.new_text)
        for e in sorted(edits, key=lambda e: e.start)
    ]
    return types.WorkspaceEdit(changes={document.uri: text_edits})


def _resolve_supported(ls: ClLspServer) -> bool:
    caps = ls.client_capabilities.text_document
    code_action = caps.code_action if caps else None
    support = code_action.resolve_support if code_action else None
    return bool(support and "edit" in support.properties)


def _wanted(only: list[str] | None, kind: str) -> bool:
    if not only:
        return True  # clients filter (VS Code keeps source actions out of the lightbulb)
    return any(kind == k or kind.startswith(k + ".") for k in only)


async def _run(state: CodeActions, cancel: threading.Event, fn: Callable[[], Any]) -> Any:
    """Run blocking action work on the actions executor; asyncio cancellation reaches the
    engine through `cancel`."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(state.executor, fn)
    except asyncio.CancelledError:
        cancel.set()
        raise
    except Cancelled:
        raise asyncio.CancelledError() from None


# --------------------------------------------------------------------------- docstrings


def _find_slot(text: str, language: str, name: str, line: int) -> DocSlot | None:
    """The definition an action was offered for, in the current text."""
    best: DocSlot | None = None
    for slot in doc_slots(text, language):
        if slot.name != name:
            continue
        slot_line = text.count("\n", 0, slot.def_start)
        if best is None or abs(slot_line - line) < abs(text.count("\n", 0, best.def_start) - line):
            best = slot
    return best


def _docstring_edits(
    ls: ClLspServer,
    service: ActionsService,
    text: str,
    rel_path: str,
    language: str,
    data: dict[str, Any],
    cancel: threading.Event,
) -> list[Edit]:
    params = ls.settings.completion.docstring_params
    if data.get("action") == "docstrings":
        slots = undocumented(text, language)[:MAX_EAGER_DOCSTRINGS]
    else:
        slot = _find_slot(text, language, str(data.get("name", "")), int(data.get("line", 0)))
        slots = [slot] if slot is not None else []
    style = service.python_style(text) if language == "python" else None
    edits = []
    for slot in slots:
        if cancel.is_set():
            raise Cancelled()
        result = service.docstring(
            text, language, slot, rel_path=rel_path, cancel=cancel, style=style, params=params
        )
        edits.append(result.edit)
    return edits


def _docstring_actions(
    ls: ClLspServer,
    document: Document,
    language: str,
    start: int,
    end: int,
    only: list[str] | None,
) -> list[types.CodeAction]:
    actions: list[types.CodeAction] = []
    base = {"uri": document.uri, "version": document.version}
    if _wanted(only, types.CodeActionKind.RefactorRewrite):
        slot = slot_at(document.text, language, start, end)
        if slot is not None:
            verb = "Regenerate" if slot.documented else "Generate"
            what = "docstring" if language == "python" else "doc comment"
            line = document.text.count("\n", 0, slot.def_start)
            actions.append(
                types.CodeAction(
                    title=f"{verb} {what} for `{slot.name}` (cl-lsp)",
                    kind=types.CodeActionKind.RefactorRewrite,
                    data={**base, "action": "docstring", "name": slot.name, "line": line},
                )
            )
    if _wanted(only, KIND_DOCSTRINGS):
        missing = undocumented(document.text, language)
        if missing:
            n = len(missing)
            noun = "definition" if n == 1 else "definitions"
            actions.append(
                types.CodeAction(
                    title=f"Generate docstrings for {n} undocumented {noun} (cl-lsp)",
                    kind=KIND_DOCSTRINGS,
                    data={**base, "action": "docstrings"},
                )
            )
    return actions


# --------------------------------------------------------------------------- fixes


def _overlaps(a: types.Range, b: types.Range) -> bool:
    def key(p: types.Position) -> tuple[int, int]:
        return (p.line, p.character)

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _diagnostics_to_fix(
    state: CodeActions, document: Document, language: str, params: types.CodeActionParams
) -> list[types.Diagnostic]:
    """The request's diagnostics (any source) and our own syntax diagnostics in its range."""
    requested = list(params.context.diagnostics)
    ours = [
        d
        for d in state.diagnostics.current(document, language)
        if _overlaps(d.range, params.range)
    ]
    seen = {(d.range.start.line, d.message) for d in requested}
    return requested + [d for d in ours if (d.range.start.line, d.message) not in seen]


async def _fix_actions(
    ls: ClLspServer,
    state: CodeActions,
    service: ActionsService,
    document: Document,
    admitted: PromptText,
    language: str,
    diagnostics: list[types.Diagnostic],
) -> list[types.CodeAction]:
    encoding = ls.position_encoding
    text = admitted.text
    has_syntax_errors = bool(syntax_problems(document, text, language, limit=1))
    actions: list[types.CodeAction] = []
    for diagnostic in diagnostics[:MAX_FIXES_PER_REQUEST]:
        start = offset_of(document, diagnostic.range.start, encoding)
        end = offset_of(document, diagnostic.range.end, encoding)
        syntax = diagnostic.source == SOURCE or has_syntax_errors
        key = (document.uri, admitted.version, start, end, diagnostic.message)
        result = state.fixes.get(key)
        if result is None:
            cancel = threading.Event()
            rel_path = admitted.rel_path

            def work(
                start: int = start,
                end: int = end,
                message: str = diagnostic.message,
                syntax: bool = syntax,
                cancel: threading.Event = cancel,
                rel_path: str = rel_path,
                hints: bool = ls.settings.completion.fix_parser_hints,
            ) -> FixResult:
                return service.fix(
                    text,
                    language,
                    start,
                    end,
                    message,
                    rel_path=rel_path,
                    cancel=cancel,
                    syntax=syntax,
                    parser_hints=hints,
                )

            result = await _run(state, cancel, work)
            state.fixes.put(key, result)
        if result.edit is None or document.text != text:
            continue  # rejected by verification (or the text changed meanwhile)
        edit = result.edit
        actions.append(
            types.CodeAction(
                title=f"Fix: {diagnostic.message} (cl-lsp)",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diagnostic],
                is_preferred=True,
                edit=_workspace_edit(document, [edit], encoding),
            )
        )
    return actions


def _register(server: ClLspServer, state: CodeActions) -> None:
    kinds = [types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite, KIND_DOCSTRINGS]

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=kinds, resolve_provider=True),
    )
    async def code_action(
        ls: ClLspServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        document = ls.documents.get(params.text_document.uri)
        if document is None:
            return None
        language = language_of(ls, document)
        if language is None:
            return None
        admitted = ls.gate.admit(document.uri)
        if isinstance(admitted, Refused):
            return _refused_actions(ls, admitted)
        encoding = ls.position_encoding
        start = offset_of(document, params.range.start, encoding)
        end = offset_of(document, params.range.end, encoding)
        only = list(params.context.only) if params.context.only else None
        # Docstring actions need no model until they are chosen: offered even while it loads.
        actions = _docstring_actions(ls, document, language, start, end, only)
        diagnostics = (
            _diagnostics_to_fix(state, document, language, params)
            if _wanted(only, types.CodeActionKind.QuickFix)
            else []
        )
        needs_model = bool(diagnostics) or not _resolve_supported(ls)
        if needs_model and ls.service is None:
            # Fix-its are computed and verified before they are listed: wait for the model
            # within the completion time limit.
            await ls.model_loaded(ls.settings.completion.time_limit_ms / 1000)
        loop = asyncio.get_running_loop()
        service = await loop.run_in_executor(state.executor, state.service_for, ls)
        if service is None:
            if needs_model and ls.engine_error is None:
                ls.still_loading()
            return actions if _resolve_supported(ls) else []
        if diagnostics:
            fixes = _fix_actions(ls, state, service, document, admitted, language, diagnostics)
            actions = await fixes + actions
        if not _resolve_supported(ls):
            # Eager edits: the whole-file source action only when asked for by kind.
            if only is None:
                actions = [a for a in actions if a.kind != KIND_DOCSTRINGS]
            for action in actions:
                if action.edit is None:
                    await _resolve_into(ls, state, service, action)
        return actions

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve(ls: ClLspServer, action: types.CodeAction) -> types.CodeAction:
        if action.edit is not None:
            return action
        if ls.service is None:
            await ls.model_loaded(RESOLVE_LOAD_WAIT_S)  # offered while loading: wait for it
        loop = asyncio.get_running_loop()
        service = await loop.run_in_executor(state.executor, state.service_for, ls)
        if service is None:
            return action
        await _resolve_into(ls, state, service, action)
        return action

def _refused_actions(ls: ClLspServer, refused: Refused) -> list[types.CodeAction] | None:
    """A document the gate refuses: one disabled action that says why, for clients that
    show disabled actions; nothing for the others. Nothing of it reaches a model."""
    caps = ls.client_capabilities.text_document
    code_action = caps.code_action if caps else None
    if not (code_action and code_action.disabled_support):
        return None
    return [
        types.CodeAction(
            title="cl-lsp: no model actions in this file",
            kind=types.CodeActionKind.RefactorRewrite,
            disabled=types.CodeActionDisabled(reason=f"cl-lsp: {refused.reason}"),
        )
    ]


async def _resolve_into(
    ls: ClLspServer, state: CodeActions, service: ActionsService, action: types.CodeAction
) -> None:
    """Compute a docstring action's edit into `action.edit` (cancellable)."""
    data = action.data if isinstance(action.data, dict) else {}
    document = ls.documents.get(str(data.get("uri", "")))
    if document is None:
        return
    language = language_of(ls, document)
    if language is None:
        return
    # The gate again: the document may have become a secret since the action was listed.
    admitted = ls.gate.admit(document.uri)
    if isinstance(admitted, Refused):
        return
    cancel = threading.Event()
    text_before = admitted.text
    rel_path = admitted.rel_path

    def work() -> list[Edit]:
        return _docstring_edits(ls, service, text_before, rel_path, language, data, cancel)

    edits = await _run(state, cancel, work)
    if edits and document.text == text_before:
        action.edit = _workspace_edit(document, edits, ls.position_encoding)
