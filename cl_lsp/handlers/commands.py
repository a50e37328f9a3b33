"""workspace/executeCommand: status and "why did it suggest that?"."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from cl_lsp.acceptance.summary import parse_period
from cl_lsp.core.document import Position
from cl_lsp.gate import Refused
from cl_lsp.handlers.progress import begin_progress
from cl_lsp.service import Plan

if TYPE_CHECKING:
    from cl_lsp.server import ClLspServer

STATUS = "cl-lsp.status"
STATS = "cl-lsp.stats"  # acceptance statistics (cl_lsp.acceptance)
ENGINE_STATS = "cl-lsp.engineStats"  # the engine's totals (benchmarks read deltas)
ACCEPTED = "cl-lsp.accepted"  # the command completion items carry: run on accept
SHOW_CONTEXT = "cl-lsp.showContext"
DOCUMENT_DIGEST = "cl-lsp.documentDigest"
PULL_MODEL = "cl-lsp.pullModel"

log = logging.getLogger(__name__)


async def pull_model(ls: ClLspServer, spec: str, quant: str | None) -> dict[str, Any]:
    """Download a model alias into the store with $/progress; the editor's "pull a model"
    command. The answer names the file, or the error and its fix."""
    from cl_lsp.models import ModelStoreError, parse_target, pull

    try:
        target = parse_target(spec, quant)
    except ModelStoreError as error:
        return {"error": error.message, "fix": error.fix}
    title = f"cl-lsp: pulling {target.label}"
    reporter = await begin_progress(ls, f"cl-lsp/pull/{uuid.uuid4().hex}", title)

    def progress(done: int, total: int) -> None:
        if reporter is not None:
            percent = int(100 * done / total) if total else 0
            reporter.report(percent, f"{done / 1e6:,.1f} / {total / 1e6:,.1f} MB")

    loop = asyncio.get_running_loop()
    try:
        path = await loop.run_in_executor(None, lambda: pull(target, progress=progress))
    except ModelStoreError as error:
        if reporter is not None:
            reporter.end(f"failed: {error.message}")
        ls.notify_user(types.MessageType.Error, f"cl-lsp: {error.message} {error.fix or ''}")
        return {"error": error.message, "fix": error.fix}
    if reporter is not None:
        reporter.end(f"{target.label}: {path.name}")
    log.info("pulled %s into %s", target.label, path)
    return {"alias": target.label, "path": str(path)}


def describe_plan(plan: Plan, tail: int = 400) -> str:
    """The prompt pieces in words: shape, layout, token counts, the text around the cursor."""
    lines = [f"shape: {plan.shape.name} ({plan.reason})"]
    if plan.prompt is not None:
        lines.append(f"layout: {plan.prompt.layout.value}; prompt tokens: {len(plan.prompt.ids)}")
    if plan.context is not None:
        lines.append(f"repository context: {plan.context.tokens} tokens")
        for piece in plan.context.pieces:
            lines.append(
                f"  {piece.kind:<10} {piece.source_path} "
                f"score={piece.score:.3f} tokens={piece.tokens}"
            )
    if plan.window is not None:
        lines.append("--- prefix (end) ---")
        lines.append(plan.window.prefix[-tail:])
        lines.append("--- suffix (start) ---")
        lines.append(plan.window.suffix[:tail])
    return "\n".join(lines)


def register(server: ClLspServer) -> None:
    # pygls evaluates command handlers' annotations at call time, so they name only
    # runtime types; arguments arrive as plain JSON values.
    @server.command(STATUS)
    def _status(ls: Any, *args: Any) -> dict[str, Any]:
        return dict(ls.status())

    @server.command(ENGINE_STATS)
    def _engine_stats(ls: Any, *args: Any) -> dict[str, Any]:
        """Engine totals: benchmarks read deltas around each request."""
        if ls.engine is None:
            return {}
        return dataclasses.asdict(ls.engine.stats)

    @server.command(STATS)
    async def _stats(ls: Any, *args: Any) -> dict[str, Any]:
        """Acceptance statistics for a period: `cl-lsp.stats([{"since": "7d"}])`."""
        since = args[0].get("since", "all") if args and isinstance(args[0], dict) else "all"
        try:
            since_s = parse_period(str(since))
        except ValueError as error:
            return {"error": str(error)}
        return await asyncio.wrap_future(ls.acceptance.summary(ls.settings.stats, since_s))

    @server.command(ACCEPTED)
    def _accepted(ls: Any, *args: Any) -> bool:
        """The user took suggestion `id` whole, or `{"chars": N}` of it (a word, a line)."""
        if not args or not isinstance(args[0], str):
            return False
        chars = None
        if len(args) > 1 and isinstance(args[1], dict) and isinstance(args[1].get("chars"), int):
            chars = int(args[1]["chars"])
        return bool(ls.acceptance.accepted(ls.settings.stats, args[0], chars))

    @server.command(SHOW_CONTEXT)
    async def _show_context(ls: Any, *args: Any) -> str:
        if len(args) != 2 or not isinstance(args[0], str) or not isinstance(args[1], dict):
            return "usage: cl-lsp.showContext(uri, {line, character})"
        uri, position = args
        document = ls.documents.get(uri)
        if document is None:
            return f"{uri} is not open"
        if ls.service is None:
            return f"no model: {ls.status()}"
        admitted = ls.gate.admit(uri)
        if isinstance(admitted, Refused):
            return f"no context: {admitted.reason}"
        offset = document.offset_at(
            Position(int(position.get("line", 0)), int(position.get("character", 0))),
            ls.position_encoding,
        )
        request = ls.completions.request(admitted, offset)
        loop = asyncio.get_running_loop()
        plan = await loop.run_in_executor(
            ls.completions.planner, ls.completions.plan, request, uri, document.version
        )
        return describe_plan(plan)

    @server.command(PULL_MODEL)
    async def _pull_model(ls: Any, *args: Any) -> dict[str, Any]:
        if not args or not isinstance(args[0], str) or len(args) > 2:
            return {"error": "usage: cl-lsp.pullModel(alias[, quant])"}
        quant = args[1] if len(args) == 2 and isinstance(args[1], str) else None
        return await pull_model(ls, args[0], quant)

    @server.command(DOCUMENT_DIGEST)
    def _document_digest(ls: Any, *args: Any) -> dict[str, Any] | None:
        """The server's copy of an open document: version, length and sha256 of its UTF-8
        text (read-only; tests compare it with the client's text after edit storms)."""
        if len(args) != 1 or not isinstance(args[0], str):
            return None
        document = ls.documents.get(args[0])
        if document is None:
            return None
        data = document.text.encode("utf-8", "surrogatepass")
        return {
            "version": document.version,
            "length": len(document.text),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
