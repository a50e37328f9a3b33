"""Acceptance session: a typist who keeps only correct suggestions, and what `cl-lsp stats`
then reports; plus the cost of recording (per suggestion) and the database's bound.

Takes functions from Python's standard library (code none of us wrote), deletes each body
and types it back over LSP against `python -m cl_lsp --stdio`, the way VS Code drives an
inline provider, except that the typist waits for every answer. After each keystroke the
typist looks at the suggestion: when it is exactly what comes next (the whole text), it is
accepted (the item's `cl-lsp.accepted` command runs, as VS Code does on Tab); when only its
first word is right, that word is taken (a partial accept, as Neovim's `:ClLspAcceptWord`
reports it); otherwise the next character is typed (a newline and its indentation are one
key, as with auto-indent). So "accepted" here means "correct": the figures measure how
much of real code the model and the settings would have written, with no human in the
loop, and the printout is `cl-lsp stats` of that session as a user would see it.

    python benchmarks/acceptance.py                     # the embedded SmolLM2, ~1-3 minutes
    python benchmarks/acceptance.py --model PATH.gguf --functions 6 --max-chars 300

Prints the session's statistics, the recording cost and writes
benchmarks/results/acceptance.json. Statistics go to a temporary data dir, never the user's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typing_replay import Client, Target, _position, pick_targets  # noqa: E402

from cl_lsp.acceptance.recorder import Recorder  # noqa: E402
from cl_lsp.acceptance.report import text as stats_text  # noqa: E402
from cl_lsp.acceptance.store import DATA_DIR_ENV  # noqa: E402
from cl_lsp.acceptance.summary import Record, percentile  # noqa: E402
from cl_lsp.config import StatsSettings  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "acceptance.json"


def first_word(text: str) -> str:
    """The same rule as the Neovim plugin's partial accept (blanks + one word or one run
    of punctuation)."""
    i = 0
    while i < len(text) and text[i] in " \t\n":
        i += 1
    j = i
    if j < len(text) and (text[j].isalnum() or text[j] == "_"):
        while j < len(text) and (text[j].isalnum() or text[j] == "_"):
            j += 1
    else:
        while j < len(text) and not (text[j].isalnum() or text[j] == "_" or text[j].isspace()):
            j += 1
    return text[:j]


def next_key(body: str, typed: int) -> str:
    if body[typed] != "\n":
        return body[typed]
    j = typed + 1
    while j < len(body) and body[j] == " ":
        j += 1
    return body[typed:j]


class Session:
    def __init__(self, client: Client, uri: str, text: str) -> None:
        self.client, self.uri, self.text, self.version = client, uri, text, 1
        self.counts = {"keys": 0, "requests": 0, "whole": 0, "partial": 0, "chars_typed": 0}
        self.request_s: list[float] = []  # every request, empty answers included

    def insert(self, offset: int, inserted: str) -> None:
        self.version += 1
        position = _position(self.text, offset)
        self.client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": self.uri, "version": self.version},
                "contentChanges": [
                    {"range": {"start": position, "end": position}, "text": inserted}
                ],
            },
        )
        self.text = self.text[:offset] + inserted + self.text[offset:]

    async def suggestion(self, offset: int) -> dict[str, Any] | None:
        self.counts["requests"] += 1
        began = time.perf_counter()
        result = await self.client.request(
            "textDocument/inlineCompletion",
            {
                "textDocument": {"uri": self.uri},
                "position": _position(self.text, offset),
                "context": {"triggerKind": 2},  # Automatic, as while typing
            },
            timeout=120,
        )
        self.request_s.append(time.perf_counter() - began)
        items = (result or {}).get("items") or []
        return items[0] if items else None

    async def accept(self, item: dict[str, Any], chars: int | None) -> None:
        command = item.get("command") or {}
        arguments = list(command.get("arguments") or [])
        if chars is not None:
            arguments = [arguments[0], {"chars": chars}]
        await self.client.request(
            "workspace/executeCommand", {"command": command["command"], "arguments": arguments}
        )

    async def type_body(self, target: Target) -> None:
        body, typed, cursor = target.body, 0, target.at
        while typed < len(body):
            item = await self.suggestion(cursor)
            remaining = body[typed:]
            taken = ""
            if item is not None and item.get("command"):
                shown = item["insertText"]
                empty_range = item["range"]["start"] == item["range"]["end"]
                word = first_word(shown)
                if shown and empty_range and remaining.startswith(shown):
                    taken = shown
                    await self.accept(item, None)
                    self.counts["whole"] += 1
                elif word.strip() and remaining.startswith(word):
                    taken = word
                    await self.accept(item, len(word))
                    self.counts["partial"] += 1
            if not taken:
                taken = next_key(body, typed)
                self.counts["keys"] += 1
                self.counts["chars_typed"] += len(taken)
            self.insert(cursor, taken)
            cursor += len(taken)
            typed += len(taken)


async def session(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    targets = pick_targets(args.functions, args.max_chars, min_line=1, seed=args.seed)
    command = [sys.executable, "-m", "cl_lsp", "--stdio"]
    if args.model:
        command += ["--model", args.model]
    env = {
        **os.environ,
        DATA_DIR_ENV: str(workdir / "data"),
        "XDG_CACHE_HOME": str(workdir / "cache"),
    }
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=(workdir / "server.stderr").open("wb"),
        env=env,
        limit=2**24,
    )
    client = Client(process)
    root = workdir / "ws"
    root.mkdir()
    await client.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": root.as_uri(),
            "capabilities": {"textDocument": {"inlineCompletion": {}, "synchronization": {}}},
            "initializationOptions": {"completion": {"maxTokens": args.max_tokens}},
        },
    )
    client.notify("initialized", {})
    status: dict[str, Any] = {}
    for _ in range(1200):
        status = await client.request("workspace/executeCommand", {"command": "cl-lsp.status"})
        if (status or {}).get("state") in ("ready", "error"):
            break
        await asyncio.sleep(0.05)
    if status.get("state") != "ready":
        raise SystemExit(f"the server did not load the model: {status}")
    counts: dict[str, int] = {}
    request_s: list[float] = []
    body_chars = 0
    started = time.perf_counter()
    for number, target in enumerate(targets):
        path = root / f"target_{number}_{Path(target.path).name}"
        path.write_text(target.text)
        client.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": path.as_uri(),
                    "languageId": "python",
                    "version": 1,
                    "text": target.text,
                }
            },
        )
        typist = Session(client, path.as_uri(), target.text)
        await typist.type_body(target)
        request_s += typist.request_s
        for key, value in typist.counts.items():
            counts[key] = counts.get(key, 0) + value
        body_chars += len(target.body)
        client.notify("textDocument/didClose", {"textDocument": {"uri": path.as_uri()}})
    wall_s = time.perf_counter() - started
    stats = await client.request(
        "workspace/executeCommand", {"command": "cl-lsp.stats", "arguments": [{"since": "1h"}]}
    )
    await client.request("shutdown")
    client.notify("exit", None)
    try:
        await asyncio.wait_for(process.wait(), 20)
    except asyncio.TimeoutError:
        process.kill()
    client.reader.cancel()
    return {
        "model": args.model or "embedded",
        "functions": [f"{Path(t.path).name}:{t.name}" for t in targets],
        "body_chars": body_chars,
        "counts": counts,
        "chars_from_suggestions": body_chars - counts.get("chars_typed", 0),
        "wall_s": wall_s,
        "request_ms_p50": percentile(request_s, 50) * 1000,
        "request_ms_p95": percentile(request_s, 95) * 1000,
        "stats": stats,
    }


def recording_cost(workdir: Path, calls: int, cap: int) -> dict[str, Any]:
    """What one shown suggestion costs the event loop (the call that returns the item's
    id), and the database's size once it holds `cap` rows with more offered."""
    settings = StatsSettings(max_rows=cap)
    recorder = Recorder(workdir / "cost" / "stats.sqlite3")
    record = Record("python", "m", "spm", "model", 50.0, 40)
    recorder.shown(settings, record)  # opens the store
    times = []
    for _ in range(calls):
        began = time.perf_counter_ns()
        recorder.shown(settings, record)
        times.append((time.perf_counter_ns() - began) / 1000)
    rows = recorder.summary(settings, None).result(600)["total"]["shown"]
    recorder.close()
    size = sum(f.stat().st_size for f in (workdir / "cost").iterdir())
    return {
        "calls": calls + 1,
        "shown_call_us_p50": percentile(times, 50),
        "shown_call_us_p95": percentile(times, 95),
        "rows_kept": rows,
        "row_cap": cap,
        "db_bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="GGUF (default: the embedded SmolLM2-135M)")
    parser.add_argument("--functions", type=int, default=4)
    parser.add_argument("--max-chars", type=int, default=200, help="characters typed per body")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cost-calls", type=int, default=120_000)
    parser.add_argument("--cap", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cl-lsp-acceptance-") as tmp:
        workdir = Path(tmp)
        result = asyncio.run(session(args, workdir))
        cost = recording_cost(workdir, args.cost_calls, args.cap)
    counts = result["counts"]
    print(f"functions: {', '.join(result['functions'])}")
    print(
        f"typed {result['body_chars']} characters: {counts.get('keys', 0)} keys "
        f"({counts.get('chars_typed', 0)} characters) by hand, "
        f"{result['chars_from_suggestions']} characters from {counts.get('whole', 0)} whole "
        f"and {counts.get('partial', 0)} partial accepts; {counts.get('requests', 0)} requests, "
        f"{result['wall_s']:.0f} s (every request, empty answers too: "
        f"p50 {result['request_ms_p50']:.0f} ms, p95 {result['request_ms_p95']:.0f} ms)"
    )
    print("\n$ cl-lsp stats --since 1h")
    print(stats_text(result["stats"]))
    print(
        f"\nrecording: {cost['calls']:,} suggestions, the call on the event loop "
        f"p50 {cost['shown_call_us_p50']:.1f} us, p95 {cost['shown_call_us_p95']:.1f} us; "
        f"database {cost['rows_kept']:,} rows (cap {cost['row_cap']:,}), "
        f"{cost['db_bytes'] / 1e6:.1f} MB"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**result, "recording": cost}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
