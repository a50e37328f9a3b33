"""The hook interface every feature implements (after esbonio's `LanguageFeature`).

The server keeps transport, settings layering, the document store, the prompt gate and the
model; a feature keeps everything of its own (executors, timers, caches) and is told when a
document opens, changes, is saved or closes, and when the server stops. The document sync
handlers call the hooks after the store is up to date; one failing hook never breaks sync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cl_lsp.server import ClLspServer


class Feature:
    """Base class: every hook does nothing unless a feature overrides it."""

    def __init__(self, server: ClLspServer) -> None:
        self.server = server

    def register(self) -> None:
        """Register this feature's LSP handlers on the server (at construction time)."""

    def opened(self, uri: str) -> None:
        """A document was opened (its text is in the store)."""

    def changed(self, uri: str) -> None:
        """A document's text changed (the store has the new text and version)."""

    def saved(self, uri: str) -> None:
        """A document was saved."""

    def closed(self, uri: str) -> None:
        """A document was closed (already gone from the store)."""

    def model_changed(self) -> None:
        """The model is being replaced: drop work that used the old one."""

    def close(self) -> None:
        """The server stops: cancel timers, shut executors down. Must not block."""
