"""Glue between the completion handlers and cl_lsp.acceptance: whether to answer a
request at all (disabled languages and paths, quiet contexts), and the accept command
that each item carries."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import to_fs_path

from cl_lsp.acceptance.recorder import ACCEPT_COMMAND
from cl_lsp.acceptance.summary import Record
from cl_lsp.acceptance.switches import disabled_reason

if TYPE_CHECKING:
    from cl_lsp.handlers.completion import Answer
    from cl_lsp.server import ClLspServer

log = logging.getLogger(__name__)


def language_of(ls: ClLspServer, uri: str) -> str:
    document = ls.documents.get(uri)
    return (document.language_id if document is not None else None) or "unknown"


def _paths(ls: ClLspServer, uri: str) -> list[str]:
    """The document's path relative to the workspace (with or without an index) and
    absolute: globs are written either way."""
    absolute = to_fs_path(uri) or ""
    paths = [ls.rel_path(uri), absolute]
    if ls.root is not None and absolute:
        try:
            paths.append(Path(absolute).relative_to(ls.root).as_posix())
        except ValueError:
            pass  # outside the workspace
    return paths


def should_answer(ls: ClLspServer, uri: str, automatic: bool) -> bool:
    """False for a disabled language or path, and for an automatic request in a language
    the user has not accepted anything from for `stats.quiet_after` suggestions."""
    settings = ls.settings
    language = language_of(ls, uri)
    reason = disabled_reason(
        language,
        _paths(ls, uri) if settings.completion.disabled_globs else (),
        settings.completion.disabled_languages,
        settings.completion.disabled_globs,
    )
    if reason is not None:
        log.debug("no completion for %s: %s", uri, reason)
        return False
    if automatic and ls.acceptance.quiet(settings.stats, language):
        log.debug("no automatic completion for %s: nothing accepted in %s lately", uri, language)
        return False
    return True


def model_name(ls: ClLspServer) -> str:
    engine = ls.engine
    return engine.description.split(" [", 1)[0] if engine is not None else "unknown"


def accept_command(
    ls: ClLspServer, uri: str, answer: Answer, received: float
) -> types.Command | None:
    """Record the suggestion as shown; the command the client runs when the user takes it
    (None when statistics are off)."""
    service = ls.service
    record = Record(
        language=language_of(ls, uri),
        model=model_name(ls),
        layout=service.layout.value if service is not None else "unknown",
        source=answer.source,
        latency_ms=(time.perf_counter() - received) * 1000,
        chars=len(answer.text),
    )
    id_ = ls.acceptance.shown(ls.settings.stats, record)
    if id_ is None:
        return None
    return types.Command(title="cl-lsp: accepted", command=ACCEPT_COMMAND, arguments=[id_])
