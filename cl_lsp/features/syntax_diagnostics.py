"""cl-lsp's own syntax diagnostics: tree-sitter ERROR/MISSING nodes, published on open and
save, and debounced while typing only for files that parsed cleanly before (the policy is
`cl_lsp.core.diagnostics`). Code actions offer verified fix-its for them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lsprotocol import types

from cl_lsp.core.diagnostics import DiagnosticsPolicy, problems_of
from cl_lsp.core.document import Document
from cl_lsp.core.languages import detect
from cl_lsp.core.syntax_tree import SyntaxProblem
from cl_lsp.features.base import Feature
from cl_lsp.handlers.positions import lsp_range

if TYPE_CHECKING:
    from cl_lsp.server import ClLspServer

SOURCE = "cl-lsp"


def language_of(ls: ClLspServer, document: Document) -> str | None:
    """Our grammar's name for a document, or None when we have no grammar for it."""
    spec = detect(ls.rel_path(document.uri), document.language_id)
    return spec.name if spec else None


def syntax_problems(
    document: Document, text: str, language: str, limit: int = 50
) -> list[SyntaxProblem]:
    """Syntax problems of `text` (a snapshot of the document), on the document's own
    incremental tree when it is still current: no full parse per request."""
    tree = document.tree_for(text) if document.language == language else None
    return problems_of(text, language, limit, tree)


def as_diagnostics(
    document: Document, problems: list[SyntaxProblem], encoding: str
) -> list[types.Diagnostic]:
    return [
        types.Diagnostic(
            range=lsp_range(document, p.start, p.end, encoding),
            message=p.message,
            severity=types.DiagnosticSeverity.Error,
            source=SOURCE,
        )
        for p in problems
    ]


class SyntaxDiagnostics(Feature):
    def __init__(self, server: ClLspServer) -> None:
        super().__init__(server)
        self.policy = DiagnosticsPolicy()
        self.timers: dict[str, asyncio.TimerHandle] = {}  # uri -> debounced check

    @property
    def enabled(self) -> bool:
        return self.server.settings.completion.syntax_diagnostics

    def opened(self, uri: str) -> None:
        self._check(uri, "open")

    def changed(self, uri: str) -> None:
        self._cancel_timer(uri)
        loop = self.server.loop
        if loop is None or not self.enabled:
            return
        delay = max(0, self.server.settings.completion.diagnostics_delay_ms) / 1000
        self.timers[uri] = loop.call_later(delay, self._check, uri, "change")

    def saved(self, uri: str) -> None:
        self._cancel_timer(uri)
        self._check(uri, "save")

    def closed(self, uri: str) -> None:
        self._cancel_timer(uri)
        if self.policy.closed(uri):
            self.server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )

    def close(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()

    def current(self, document: Document, language: str) -> list[types.Diagnostic]:
        """Our diagnostics for the document as it is now (for code actions to fix)."""
        if not self.enabled:
            return []
        problems = syntax_problems(document, document.text, language)
        return as_diagnostics(document, problems, self.server.position_encoding)

    def _cancel_timer(self, uri: str) -> None:
        timer = self.timers.pop(uri, None)
        if timer is not None:
            timer.cancel()

    def _check(self, uri: str, event: str) -> None:
        self.timers.pop(uri, None)
        ls = self.server
        document = ls.documents.get(uri)
        if document is None or not self.enabled:
            return
        language = language_of(ls, document)
        if language is None:
            return
        problems = syntax_problems(document, document.text, language)
        if event == "change":
            decided = self.policy.changed(uri, problems)
        elif event == "save":
            decided = self.policy.saved(uri, problems)
        else:
            decided = self.policy.opened(uri, problems)
        if decided is None:
            return
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=document.uri,
                diagnostics=as_diagnostics(document, decided, ls.position_encoding),
                version=document.version,
            )
        )
