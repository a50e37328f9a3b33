"""The cancellation storm (issue 8, scenario 1), shared by the CI test and the benchmark.

Per step: one single-character incremental edit (insert, some non-BMP, or a deletion), a
`cl-lsp.documentDigest` request that acts as a fence, an inline completion request at the
new cursor, then `$/cancelRequest` for it after a random 0-50 ms (a share of the requests
is not cancelled but raced by the next edit after a random pause, so that some answers
do arrive and the staleness check has something to check).

Checks:
- every request id is answered exactly once (a result, or RequestCancelled);
- no stale answer: pygls writes responses in the order it produces them, and the fence
  of step i+1 is answered as soon as the server applied edit i+1; so a non-empty answer
  to request i arriving after that fence was produced for an older version. Non-empty
  answers must also start at the cursor of their version and end inside its text;
- each fence reports the version just sent; at the end the server's text has the
  client's sha256, byte for byte;
- RSS after the storm stays within a bound of the warm baseline.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.e2e.asyncrpc import AsyncRaw, position_of, rss_kb

ALPHABET = ["a", "b", "x", "_", " ", "(", ")", ".", "\n", "é", "漢", "😀", "𝔘", "🦀", "\u0301"]
CANCELLED = -32800


@dataclass
class StormReport:
    steps: int
    edits: int = 0
    requests: int = 0
    racing: int = 0  # requests left to race the next edit instead of being cancelled
    answered_items: int = 0
    answered_empty: int = 0
    cancelled: int = 0
    other_errors: int = 0
    stale: int = 0
    bad_ranges: int = 0
    duplicates: int = 0
    missing: int = 0
    fence_mismatches: int = 0
    text_equal: bool = False
    answered_by_tenth: list[int] = field(default_factory=list)  # items+empty per 10% of steps
    final_answer_s: float = 0.0
    final_answered: bool = False  # an uncancelled request after the storm got a result
    rss_baseline_kb: int = 0
    rss_after_kb: int = 0
    rss_peak_kb: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _utf16_offset_ok(line_text: str, character: int) -> bool:
    """The column is inside the line and not between the halves of a surrogate pair."""
    units = 0
    for char in line_text:
        if units == character:
            return True
        units += 2 if ord(char) > 0xFFFF else 1
        if units > character:
            return False
    return units == character


def _range_ok(text: str, cursor: int, rng: dict[str, Any]) -> bool:
    lines = text.split("\n")
    start, end = rng["start"], rng["end"]
    if start != position_of(text, cursor):
        return False
    if not 0 <= end["line"] < len(lines) or (end["line"], end["character"]) < (
        start["line"],
        start["character"],
    ):
        return False
    return _utf16_offset_ok(lines[end["line"]], end["character"])


async def run_storm(
    server: AsyncRaw,
    uri: str,
    text: str,
    steps: int,
    seed: int = 0,
    max_cancel_ms: float = 50.0,
    racing_share: float = 0.2,
    max_race_ms: float = 400.0,
) -> StormReport:
    """Drive the storm on an open document whose text is `text` at version 1, with the
    cursor at its end. Returns the tally; callers assert on it."""
    rng = random.Random(seed)
    report = StormReport(steps)
    cursor = len(text)
    version = 1
    # (request id, fence id of the next step, version, text, cursor)
    asked: list[tuple[Any, Any, int, str, int]] = []
    fences: dict[Any, int] = {}
    report.rss_baseline_kb = rss_kb(server.pid)
    started = time.perf_counter()
    pending_request: tuple[Any, int, str, int] | None = None
    for _ in range(steps):
        # One edit: mostly typing, sometimes a deletion of the character before the cursor.
        if cursor > 0 and rng.random() < 0.25:
            removed = text[cursor - 1]  # one code point: a whole non-BMP character too
            start = position_of(text, cursor - len(removed))
            end = position_of(text, cursor)
            text = text[: cursor - len(removed)] + text[cursor:]
            cursor -= len(removed)
            change = {"range": {"start": start, "end": end}, "text": ""}
        else:
            char = rng.choice(ALPHABET)
            at = position_of(text, cursor)
            text = text[:cursor] + char + text[cursor:]
            cursor += len(char)
            change = {"range": {"start": at, "end": at}, "text": char}
        version += 1
        await server.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]},
        )
        report.edits += 1
        fence = server.request_nowait(
            "workspace/executeCommand",
            {
                "command": "cl-lsp.documentDigest",
                "arguments": [uri],
            },
        )
        fences[fence] = version
        if pending_request is not None:
            rid, v, t, c = pending_request
            asked.append((rid, fence, v, t, c))
        position = position_of(text, cursor)
        rid = server.request_nowait(
            "textDocument/inlineCompletion",
            {
                "textDocument": {"uri": uri},
                "position": position,
                "context": {"triggerKind": 2},
            },
        )
        report.requests += 1
        pending_request = (rid, version, text, cursor)
        if rng.random() < racing_share:
            # Not cancelled: the next edit races the generation (the server must drop it).
            report.racing += 1
            await asyncio.sleep(rng.uniform(0, max_race_ms) / 1000)
        else:
            await asyncio.sleep(rng.uniform(0, max_cancel_ms) / 1000)
            await server.notify("$/cancelRequest", {"id": rid})
        if report.requests % 25 == 0:
            report.rss_peak_kb = max(report.rss_peak_kb, rss_kb(server.pid))
    final_fence = server.request_nowait(
        "workspace/executeCommand", {"command": "cl-lsp.documentDigest", "arguments": [uri]}
    )
    fences[final_fence] = version
    if pending_request is not None:
        rid, v, t, c = pending_request
        asked.append((rid, final_fence, v, t, c))
    # Liveness: everything is answered within a generous bound after the last cancel.
    for rid, *_ in asked:
        await server.wait_answer(rid, timeout=30)
    for fence in fences:
        await server.wait_answer(fence, timeout=30)
    report.seconds = time.perf_counter() - started
    await asyncio.sleep(0.2)  # a duplicate answer would arrive now
    tenth = max(1, len(asked) // 10)
    report.answered_by_tenth = [0] * ((len(asked) + tenth - 1) // tenth)
    for n, (rid, fence, v, t, c) in enumerate(asked):
        answers = server.responses.get(rid, [])
        if answers and "result" in answers[0][1]:
            report.answered_by_tenth[n // tenth] += 1
        if not answers:
            report.missing += 1
            continue
        if len(answers) > 1:
            report.duplicates += 1
        seq, message = answers[0]
        if "error" in message:
            if message["error"]["code"] == CANCELLED:
                report.cancelled += 1
            else:
                report.other_errors += 1
                report.problems.append(f"request {rid}: {message['error']}")
            continue
        found = (message.get("result") or {}).get("items", [])
        if not found:
            report.answered_empty += 1
            continue
        report.answered_items += 1
        fence_seq = server.responses[fence][0][0]
        if seq > fence_seq:
            report.stale += 1
            report.problems.append(f"request {rid} (version {v}) answered after the fence")
        for item in found:
            if not _range_ok(t, c, item["range"]):
                report.bad_ranges += 1
                report.problems.append(f"request {rid}: range {item['range']} at version {v}")
    for fence, v in fences.items():
        answers = server.responses.get(fence, [])
        if len(answers) != 1 or answers[0][1].get("result", {}).get("version") != v:
            report.fence_mismatches += 1
            report.problems.append(f"fence {fence}: {answers}")
    # The engine survived the storm: a request left alone is answered with a result.
    final_started = time.perf_counter()
    final = await server.request(
        "textDocument/inlineCompletion",
        {
            "textDocument": {"uri": uri},
            "position": position_of(text, cursor),
            "context": {"triggerKind": 1},
        },
        timeout=60,
    )
    report.final_answered = "result" in final
    report.final_answer_s = time.perf_counter() - final_started
    if not report.final_answered:
        report.problems.append(f"final request: {final}")
    digest = await server.command("cl-lsp.documentDigest", uri)
    expected = hashlib.sha256(text.encode("utf-8")).hexdigest()
    report.text_equal = digest["sha256"] == expected and digest["length"] == len(text)
    report.rss_after_kb = rss_kb(server.pid)
    report.rss_peak_kb = max(report.rss_peak_kb, report.rss_after_kb)
    return report
