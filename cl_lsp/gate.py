"""The prompt gate: the one way document text reaches a prompt.

Every feature that prompts a model (completions, warm-ups, docstrings, fix-its,
showContext) and every piece of context taken from other buffers (open documents, recent
edits) gets its text here, as a `PromptText`, never straight from the document store. The
gate applies the whole policy in one place: no secrets by name (.env, keys, credentials)
or by content (a private key or cloud credential under an innocent name), nothing
.gitignored or excluded by `context.ignore`, nothing vendored, and no file reached through
a link that leaves the workspace. The index applies the same path filters to what it reads
from disk, so repository context obeys the same rules.

A refused document gets no model-backed feature at all: the refusal carries the reason, for
a disabled code action or a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pygls.uris import to_fs_path

from cl_lsp.core.document import Document, DocumentStore
from cl_lsp.core.filters import secret_content
from cl_lsp.core.index import is_secret_path
from cl_lsp.repository import Repository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromptText:
    """Document text the gate let through, with the facts a prompt needs about it."""

    uri: str
    rel_path: str
    text: str
    version: int
    language_id: str | None


@dataclass(frozen=True)
class Refused:
    """The gate's no, with the reason in words a user can act on."""

    uri: str
    reason: str


class PromptGate:
    def __init__(
        self,
        documents: DocumentStore,
        repository: Callable[[], Repository | None],
    ) -> None:
        self.documents = documents
        self._repository = repository
        # uri -> (the text judged, the verdict): the content check runs once per text.
        self._verdicts: dict[str, tuple[str, str | None]] = {}

    # -- the policy -----------------------------------------------------------------------
    def rel_path(self, uri: str) -> str:
        """The workspace-relative path of a URI, or its file system path outside it."""
        path = to_fs_path(uri) or uri
        repository = self._repository()
        if repository is not None:
            rel = repository.rel_path(path)
            if rel is not None:
                return rel
        return path

    def refusal(self, uri: str, text: str) -> str | None:
        """Why `text` (the content of `uri`) may not enter a prompt, or None."""
        hit = self._verdicts.get(uri)
        if hit is not None and hit[0] is text:
            return hit[1]
        reason = self._judge(uri, text)
        self._verdicts[uri] = (text, reason)
        return reason

    def _judge(self, uri: str, text: str) -> str | None:
        repository = self._repository()
        path = to_fs_path(uri)
        rel = repository.rel_path(path) if repository is not None and path else None
        name = rel if rel is not None else (path or uri)
        by_name = repository.index.is_secret_path(name) if repository else is_secret_path(name)
        if by_name:
            return f"{Path(name).name} looks like a secrets file"
        if secret_content(text.encode("utf-8", "surrogatepass")):
            return "the file holds a private key or a credential"
        if repository is None or path is None:
            return None
        if rel is None:
            if _inside((repository.root, repository.named_root), Path(path)):
                # Under the root by name but resolving outside it: a link out.
                return "the file is a link that leads out of the workspace"
            return None
        if not repository.index.path_allowed(rel):
            return "the file is ignored (.gitignore, context.ignore or a vendored folder)"
        return None

    # -- what features get ----------------------------------------------------------------
    def admit(self, uri: str) -> PromptText | Refused:
        """The current text of an open document, if it may enter a prompt."""
        document = self.documents.get(uri)
        if document is None:
            return Refused(uri, "the document is not open")
        return self.admit_document(document, document.text)

    def admit_document(self, document: Document, text: str) -> PromptText | Refused:
        """`text` (a snapshot of `document`), if it may enter a prompt."""
        reason = self.refusal(document.uri, text)
        if reason is not None:
            log.debug("prompt gate: %s refused: %s", document.uri, reason)
            return Refused(document.uri, reason)
        return PromptText(
            document.uri, self.rel_path(document.uri), text, document.version, document.language_id
        )

    def other_documents(self, current: str) -> dict[str, str]:
        """Open documents other than `current` that may serve as context: path -> text."""
        return {
            self.rel_path(d.uri): d.text
            for d in self.documents.all()
            if d.uri != current and self.refusal(d.uri, d.text) is None
        }

    def recent_edits(self, current: str, radius: int = 3) -> list[tuple[str, str]]:
        """Lines around recent edits in other documents that may serve as context."""
        edits = []
        for uri, line in self.documents.recent_edits():
            document = self.documents.get(uri)
            if document is None or uri == current:
                continue
            if self.refusal(uri, document.text) is not None:
                continue
            lines = [document.line_text(n) for n in range(max(0, line - radius), line + radius + 1)]
            edits.append((self.rel_path(uri), "\n".join(lines).strip("\n")))
        return edits

    def forget(self, uri: str) -> None:
        self._verdicts.pop(uri, None)


def _inside(roots: tuple[Path, ...], path: Path) -> bool:
    """Whether `path`, as written (links not followed), lies under one of `roots`."""
    written = path.absolute()
    return any(written == root or root in written.parents for root in roots)
