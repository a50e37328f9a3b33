"""Command line: `cl-lsp --stdio | --tcp HOST:PORT`, `cl-lsp complete FILE:LINE:COL`,
`cl-lsp context`, `cl-lsp model pull|list|rm|path`, `cl-lsp doctor`, `cl-lsp stats`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from cl_lsp import __version__
from cl_lsp.config import Settings, load_toml, merged, user_config_path

if TYPE_CHECKING:
    from cl_lsp.service import Completion

log = logging.getLogger("cl_lsp")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", metavar="PATH", help="GGUF model file (default: embedded)")
    common.add_argument("--config", metavar="TOML", help="settings file (default: user config)")
    common.add_argument("--log-file", metavar="FILE", help="write logs here instead of stderr")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more logging")

    parser = argparse.ArgumentParser(
        prog="cl-lsp",
        parents=[common],
        description="A language server serving local Code Llama fill-in-the-middle completions.",
    )
    parser.add_argument("--version", action="version", version=f"cl-lsp {__version__}")
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument(
        "--stdio", action="store_true", help="talk LSP on stdin/stdout (default)"
    )
    transport.add_argument("--tcp", metavar="HOST:PORT", help="listen for one LSP client on TCP")

    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    complete = commands.add_parser(
        "complete", parents=[common], help="print the completion at FILE:LINE:COL (1-based)"
    )
    complete.add_argument("location", metavar="FILE:LINE:COL")
    complete.add_argument("--explain", action="store_true", help="also print the prompt plan")
    complete.add_argument("--root", metavar="DIR", help="workspace root (default: git root)")

    context = commands.add_parser(
        "context",
        parents=[common],
        help="print the prompt pieces for FILE:LINE:COL with sources, scores and token counts",
    )
    context.add_argument("location", metavar="FILE:LINE:COL")
    context.add_argument("--budget", type=int, metavar="N", help="context budget in tokens")
    context.add_argument("--root", metavar="DIR", help="workspace root (default: git root)")

    model = commands.add_parser("model", parents=[common], help="download and manage models")
    verbs = model.add_subparsers(dest="model_command", metavar="VERB")
    pull = verbs.add_parser("pull", help="download ALIAS[:QUANT] (or ORG/REPO/FILE.gguf)")
    pull.add_argument("alias", metavar="ALIAS")
    pull.add_argument("--quant", metavar="Q", help="quantization (default Q4_K_M)")
    pull.add_argument("--force", action="store_true", help="download again even if present")
    listing = verbs.add_parser("list", help="aliases and downloaded models")
    listing.add_argument("--all", action="store_true", help="every alias, not just downloads")
    remove = verbs.add_parser("rm", help="delete a downloaded model (all quants unless named)")
    remove.add_argument("alias", metavar="ALIAS")
    path = verbs.add_parser("path", help="print the file of a downloaded alias")
    path.add_argument("alias", metavar="ALIAS")

    doctor = commands.add_parser(
        "doctor", parents=[common], help="check the backend, model, index and a test completion"
    )
    doctor.add_argument("--root", metavar="DIR", help="workspace root to index (default: cwd)")
    doctor.add_argument(
        "--no-completion", action="store_true", help="skip loading the model and the test run"
    )
    stats = commands.add_parser(
        "stats",
        parents=[common],
        help="print what you accepted: acceptance rate, characters, latency by language and model",
    )
    stats.add_argument("--since", default="7d", metavar="PERIOD", help="7d, 12h, 30m or all")
    stats.add_argument("--json", action="store_true", help="the same figures as JSON")
    return parser


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.WARNING - 10 * min(args.verbose, 2)
    handler: logging.Handler
    if args.log_file:
        handler = logging.FileHandler(args.log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)  # never stdout: it carries LSP
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    if level > logging.DEBUG:
        logging.getLogger("pygls").setLevel(logging.WARNING)
    # watchdog logs every file event at debug level: with a log file inside the workspace
    # each such line would be an event of its own.
    logging.getLogger("watchdog").setLevel(logging.WARNING)


def load_settings(args: argparse.Namespace) -> Settings:
    path = Path(args.config) if args.config else user_config_path()
    layer, problems = load_toml(path)
    cli_layer = {"model": {"path": args.model}} if args.model else {}
    settings, more = merged(Settings(), layer, cli_layer)
    for problem in problems + more:
        log.warning("%s", problem)
    return settings


def parse_location(location: str) -> tuple[Path, int, int]:
    """FILE:LINE:COL with 1-based line and column (as compilers and grep print them)."""
    try:
        file, line, col = location.rsplit(":", 2)
        return Path(file), max(1, int(line)), max(1, int(col))
    except ValueError:
        raise SystemExit(f"cl-lsp: expected FILE:LINE:COL, got {location!r}") from None


def location_offset(text: str, line: int, col: int) -> int:
    """The string offset of a 1-based LINE:COL: columns count characters, lines end as
    LSP's do, out-of-range values clamp (the document's one conversion)."""
    from cl_lsp.core.document import UTF32, Document, Position

    return Document("", text).offset_at(Position(line - 1, col - 1), UTF32)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from cl_lsp.server import create_server

    # --model beats editor settings: it is the most explicit choice the user made.
    pinned = {"model": {"path": args.model}} if args.model else None
    server = create_server(settings, pinned=pinned)
    # The planner, the engine's token loop and the event loop share the GIL; at the default
    # 5 ms switch interval a keystroke's plan waited up to 5-10 ms behind a generation it
    # was about to cancel. 1 ms keeps that wait small at no measurable cost.
    sys.setswitchinterval(0.001)
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
        return server.exit_code
    # LSP owns the real stdout. Anything else that writes to fd 1 (llama.cpp, a stray
    # print) goes to stderr instead, and llama-cpp-python's redirection of fd 1 while it
    # loads a model cannot swallow our messages.
    lsp_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    server.start_io(sys.stdin.buffer, lsp_out)
    return server.exit_code


def workspace_root(file: Path, explicit: str | None) -> Path:
    """The explicit root, else the nearest enclosing git checkout, else the file's folder."""
    if explicit:
        return Path(explicit).resolve()
    start = file.resolve().parent
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def _prepare(args: argparse.Namespace, settings: Settings) -> tuple[Any, Any, Any] | int:
    """Read the file, index its workspace, load the model: (service, request, engine)."""
    from cl_lsp.engine.base import EngineError
    from cl_lsp.engine.loader import load_engine
    from cl_lsp.repository import Repository, default_cache_dir
    from cl_lsp.service import CompletionRequest, CompletionService

    path, line, col = parse_location(args.location)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"cl-lsp: cannot read {path}: {error}", file=sys.stderr)
        return 2
    offset = location_offset(text, line, col)
    try:
        engine, _info = load_engine(settings.model)
    except EngineError as error:
        print(f"cl-lsp: {error.message}\n  fix: {error.fix}", file=sys.stderr)
        return 1
    index = None
    rel = str(path)
    if settings.context.enabled:
        workspace = Repository(
            workspace_root(path, args.root), default_cache_dir(), settings.context.ignore
        )
        workspace.index.scan()
        index = workspace.index
        rel = workspace.rel_path(path) or rel
    service = CompletionService(engine, settings, index)
    return service, CompletionRequest(text=text, offset=offset, rel_path=rel), engine


def _complete(args: argparse.Namespace, settings: Settings) -> int:
    prepared = _prepare(args, settings)
    if isinstance(prepared, int):
        return prepared
    service, request, engine = prepared
    try:
        completion = service.complete(request)
        if args.explain:
            _explain(completion, sys.stderr)
        print(completion.text)
    finally:
        engine.close()
    return 0


def _context(args: argparse.Namespace, settings: Settings) -> int:
    from cl_lsp.core.retrieval import explain
    from cl_lsp.handlers.commands import describe_plan

    prepared = _prepare(args, settings)
    if isinstance(prepared, int):
        return prepared
    service, request, engine = prepared
    try:
        plan = service.plan(request, budget_tokens=args.budget)
        print(describe_plan(plan, tail=10_000))
        if plan.context is not None:
            print("--- repository context, as placed ahead of the prefix ---")
            print(explain(plan.context))
            print(plan.context.text)
    finally:
        engine.close()
    return 0


def _explain(completion: Completion, out: TextIO) -> None:
    """What the pipeline decided, for "why did it suggest that?"."""
    plan, result = completion.plan, completion.result
    print(f"shape: {plan.shape.name} ({plan.reason})", file=out)
    if plan.prompt is not None:
        print(
            f"layout: {plan.prompt.layout.value}, prompt tokens: {len(plan.prompt.ids)}", file=out
        )
    if result is not None:
        print(
            f"generated {len(result.tokens)} tokens ({result.stop_reason}); "
            f"prefill {result.prefill_s * 1000:.0f} ms, "
            f"generation {result.generate_s * 1000:.0f} ms",
            file=out,
        )
        print(f"raw: {completion.raw!r}", file=out)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args)
    settings = load_settings(args)
    if args.command == "complete":
        return _complete(args, settings)
    if args.command == "context":
        return _context(args, settings)
    if args.command == "model":
        from cl_lsp.models import command

        if args.model_command is None:
            args.model_command = "list"
        return command(args)
    if args.command == "stats":
        from cl_lsp.acceptance.report import print_stats
        from cl_lsp.acceptance.summary import parse_period

        try:
            since_s = parse_period(args.since)
        except ValueError as error:
            raise SystemExit(f"cl-lsp: {error}") from None
        return print_stats(settings.stats, since_s, args.json, sys.stdout)
    if args.command == "doctor":
        from cl_lsp.doctor import run

        return run(settings, args)
    return _serve(args, settings)


if __name__ == "__main__":
    raise SystemExit(main())
