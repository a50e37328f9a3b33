"""textDocument/codeAction, codeAction/resolve, and cl-lsp's own syntax diagnostics.

- "Generate docstring for `f`" (refactor.rewrite) for the definition at the cursor or
  selection, and the source action "Generate docstrings for N undocumented definitions".
  Their edits are computed in `codeAction/resolve` (cancellable: cancelling the request
  sets the generation's cancel event), or at once for clients without
  `codeAction.resolveSupport` for `edit` (Emacs eglot 1.9).
- Quick fixes for the diagnostics in the request's context (any source) and for our own
  syntax diagnostics. They are computed and verified before they are listed: a fix that
  the verification rejects is never offered.
- Syntax diagnostics on open and save, and debounced while typing only for files that
  parsed cleanly before (`cl_lsp.core.diagnostics`).

didOpen/didChange/didClose belong to handlers/documents.py; our hooks run after its handlers
(`_after`), since pygls allows one handler per notification.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from cl_lsp.actions_service import ActionsService, FixResult, make_service
from cl_lsp.core.diagnostics import DiagnosticsPolicy, problems_of
from cl_lsp.core.doc_slots import DocSlot, doc_slots, slot_at, undocumented
from cl_lsp.core.document import Document
from cl_lsp.core.languages import detect
from cl_lsp.core.syntax_tree import SyntaxProblem
from cl_lsp.core.text_edit import Edit
from cl_lsp.engine.base import Cancelled
from cl_lsp.gate import PromptText, Refused
from cl_lsp.handlers.positions import lsp_range, offset_of

if TYPE_CHECKING:
    from cl_lsp.server import ClLspServer

log = logging.getLogger(__name__)

SOURCE = "cl-lsp"
KIND_DOCSTRINGS = "source.generateDocstrings"
MAX_FIXES_PER_REQUEST = 3
MAX_EAGER_DOCSTRINGS = 20
# How long a chosen action (codeAction/resolve) waits for a model that is still loading; the
# client can cancel sooner. A 7B model from a cold disk takes tens of seconds.
RESOLVE_LOAD_WAIT_S = 300.0


class ActionState:
    """Per-server state of this module (kept in `ClLspServer.actions`)."""

    def __init__(self) -> None:
        self.service: ActionsService | None = None
        self.service_engine: Any = None
        self.lock = threading.Lock()
        # Parsing, prompting and waiting on the engine happen here, off the event loop.
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cl-lsp-actions")
        self.policy = DiagnosticsPolicy()
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.fixes: OrderedDict[tuple[Any, ...], FixResult] = OrderedDict()

    def service_for(self, ls: ClLspServer) -> ActionsService | None:
        """The actions service for the loaded engine (created once, off the event loop)."""
        engine = ls.engine
        if engine is None:
            return None
        with self.lock:
            if self.service is None or self.service_engine is not engine:
                index = ls.workspace_index.index if ls.workspace_index else None
                chat = ls.session.chat if ls.session is not None else None
                self.service = make_service(engine, ls.settings, index, chat)
                self.service_engine = engine
            return self.service

    def remember(self, key: tuple[Any, ...], result: FixResult) -> None:
        self.fixes[key] = result
        while len(self.fixes) > 64:
            self.fixes.popitem(last=False)


def state_of(ls: ClLspServer) -> ActionState:
    if ls.actions is None:
        ls.actions = ActionState()
    state: ActionState = ls.actions
    return state


def _language(ls: ClLspServer, document: Document) -> str | None:
    spec = detect(ls.rel_path(document.uri), document.language_id)
    return spec.name if spec else None


def _problems(document: Document, text: str, language: str, limit: int = 50) -> list[SyntaxProblem]:
    """Syntax problems of `text` (a snapshot of the document), on the document's own
    incremental tree when it is still current: no full parse per request."""
    tree = document.tree_for(text) if document.language == language else None
    return problems_of(text, language, limit, tree)


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


async def _run(state: ActionState, cancel: threading.Event, fn: Callable[[], Any]) -> Any:
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


def _our_diagnostics(ls: ClLspServer, document: Document, language: str) -> list[types.Diagnostic]:
    if not ls.settings.completion.syntax_diagnostics:
        return []
    return [
        types.Diagnostic(
            range=lsp_range(document, p.start, p.end, ls.position_encoding),
            message=p.message,
            severity=types.DiagnosticSeverity.Error,
            source=SOURCE,
        )
        for p in _problems(document, document.text, language)
    ]


def _overlaps(a: types.Range, b: types.Range) -> bool:
    def key(p: types.Position) -> tuple[int, int]:
        return (p.line, p.character)

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _diagnostics_to_fix(
    ls: ClLspServer, document: Document, language: str, params: types.CodeActionParams
) -> list[types.Diagnostic]:
    """The request's diagnostics (any source) and our own syntax diagnostics in its range."""
    requested = list(params.context.diagnostics)
    ours = [d for d in _our_diagnostics(ls, document, language) if _overlaps(d.range, params.range)]
    seen = {(d.range.start.line, d.message) for d in requested}
    return requested + [d for d in ours if (d.range.start.line, d.message) not in seen]


async def _fix_actions(
    ls: ClLspServer,
    state: ActionState,
    service: ActionsService,
    document: Document,
    admitted: PromptText,
    language: str,
    diagnostics: list[types.Diagnostic],
) -> list[types.CodeAction]:
    encoding = ls.position_encoding
    text = admitted.text
    has_syntax_errors = bool(_problems(document, text, language, limit=1))
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
            state.remember(key, result)
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


# --------------------------------------------------------------------------- diagnostics


def _publish(ls: ClLspServer, document: Document, problems: list[Any]) -> None:
    diagnostics = [
        types.Diagnostic(
            range=lsp_range(document, p.start, p.end, ls.position_encoding),
            message=p.message,
            severity=types.DiagnosticSeverity.Error,
            source=SOURCE,
        )
        for p in problems
    ]
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(
            uri=document.uri, diagnostics=diagnostics, version=document.version
        )
    )


def _check(ls: ClLspServer, uri: str, event: str) -> None:
    state = state_of(ls)
    state.timers.pop(uri, None)
    document = ls.documents.get(uri)
    if document is None or not ls.settings.completion.syntax_diagnostics:
        return
    language = _language(ls, document)
    if language is None:
        return
    problems = _problems(document, document.text, language)
    if event == "change":
        decided = state.policy.changed(uri, problems)
    elif event == "save":
        decided = state.policy.saved(uri, problems)
    else:
        decided = state.policy.opened(uri, problems)
    if decided is not None:
        _publish(ls, document, decided)


def register(server: ClLspServer) -> None:
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
        language = _language(ls, document)
        if language is None:
            return None
        admitted = ls.gate.admit(document.uri)
        if isinstance(admitted, Refused):
            return _refused_actions(ls, admitted)
        state = state_of(ls)
        encoding = ls.position_encoding
        start = offset_of(document, params.range.start, encoding)
        end = offset_of(document, params.range.end, encoding)
        only = list(params.context.only) if params.context.only else None
        # Docstring actions need no model until they are chosen: offered even while it loads.
        actions = _docstring_actions(ls, document, language, start, end, only)
        diagnostics = (
            _diagnostics_to_fix(ls, document, language, params)
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
        state = state_of(ls)
        if ls.service is None:
            await ls.model_loaded(RESOLVE_LOAD_WAIT_S)  # offered while loading: wait for it
        loop = asyncio.get_running_loop()
        service = await loop.run_in_executor(state.executor, state.service_for, ls)
        if service is None:
            return action
        await _resolve_into(ls, state, service, action)
        return action

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: ClLspServer, params: types.DidSaveTextDocumentParams) -> None:
        _cancel_timer(ls, params.text_document.uri)
        _check(ls, params.text_document.uri, "save")

    def opened(uri: str) -> None:
        _check(server, uri, "open")

    def changed(uri: str) -> None:
        _cancel_timer(server, uri)
        loop = server.loop
        if loop is None or not server.settings.completion.syntax_diagnostics:
            return
        delay = max(0, server.settings.completion.diagnostics_delay_ms) / 1000
        state_of(server).timers[uri] = loop.call_later(delay, _check, server, uri, "change")

    def closed(uri: str) -> None:
        _cancel_timer(server, uri)
        if state_of(server).policy.closed(uri):
            server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )

    server.document_listeners["open"].append(opened)
    server.document_listeners["change"].append(changed)
    server.document_listeners["close"].append(closed)


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


def _cancel_timer(ls: ClLspServer, uri: str) -> None:
    timer = state_of(ls).timers.pop(uri, None)
    if timer is not None:
        timer.cancel()


async def _resolve_into(
    ls: ClLspServer, state: ActionState, service: ActionsService, action: types.CodeAction
) -> None:
    """Compute a docstring action's edit into `action.edit` (cancellable)."""
    data = action.data if isinstance(action.data, dict) else {}
    document = ls.documents.get(str(data.get("uri", "")))
    if document is None:
        return
    language = _language(ls, document)
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
