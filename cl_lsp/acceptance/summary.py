"""Aggregation of suggestion records: acceptance rate, accepted characters, latency
percentiles, grouped by language and model. Pure: no database, no LSP."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

NOT_ACCEPTED, ACCEPTED, PARTIAL = 0, 1, 2  # the `accepted` column


@dataclass(frozen=True)
class Record:
    """One suggestion shown to the user and what became of it."""

    language: str
    model: str
    layout: str
    source: str  # "model" | "typed" (typed-through) | "lru"
    latency_ms: float  # request received -> answer sent
    chars: int  # characters shown
    accepted: int = NOT_ACCEPTED
    accepted_chars: int = 0


@dataclass
class Group:
    """Totals for one (language, model) pair, or for everything."""

    language: str
    model: str
    shown: int = 0
    accepted: int = 0  # whole suggestions
    partial: int = 0  # a word or a line of one
    shown_chars: int = 0
    accepted_chars: int = 0
    from_cache: int = 0  # answered without the model (typed-through or LRU)
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)

    @property
    def acceptance_rate(self) -> float:
        """Suggestions accepted in whole or in part, per suggestion shown."""
        return (self.accepted + self.partial) / self.shown if self.shown else 0.0

    def add(self, record: Record) -> None:
        self.shown += 1
        self.shown_chars += record.chars
        self.accepted += record.accepted == ACCEPTED
        self.partial += record.accepted == PARTIAL
        self.accepted_chars += record.accepted_chars
        self.from_cache += record.source != "model"
        self.latencies.append(record.latency_ms)

    def close(self) -> None:
        self.latency_p50_ms = percentile(self.latencies, 50)
        self.latency_p95_ms = percentile(self.latencies, 95)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["latencies"]
        data["acceptance_rate"] = round(self.acceptance_rate, 4)
        return data


@dataclass
class Summary:
    total: Group
    groups: list[Group]  # by (language, model), most shown first
    since_s: float | None  # the period, seconds back from now; None: everything kept

    def as_dict(self) -> dict[str, Any]:
        return {
            "since_s": self.since_s,
            "total": self.total.as_dict(),
            "groups": [g.as_dict() for g in self.groups],
        }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile by linear interpolation between closest ranks (numpy's default);
    0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(records: Iterable[Record], since_s: float | None = None) -> Summary:
    total = Group("*", "*")
    groups: dict[tuple[str, str], Group] = {}
    for record in records:
        total.add(record)
        key = (record.language, record.model)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(*key)
        group.add(record)
    total.close()
    for group in groups.values():
        group.close()
    ordered = sorted(groups.values(), key=lambda g: (-g.shown, g.language, g.model))
    return Summary(total, ordered, since_s)


_PERIOD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_period(text: str) -> float | None:
    """ "7d", "12h", "30m", "2w", "90s" -> seconds; "all" -> None (everything kept)."""
    if text.strip().lower() == "all":
        return None
    match = _PERIOD.match(text.lower())
    if match is None:
        raise ValueError(f"expected a period like 7d, 12h, 30m or all, got {text!r}")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _period_words(since_s: float | None) -> str:
    if since_s is None:
        return "all kept statistics"
    for unit, seconds in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if since_s >= seconds and since_s % seconds == 0:
            return f"the last {int(since_s // seconds)}{unit}"
    return f"the last {since_s:g}s"


def format_summary(summary: Summary, quiet: Sequence[tuple[str, int]] = ()) -> str:
    """The table `cl-lsp stats` and `doctor` print. `quiet`: (language, shown since the
    last accept) for the contexts the user has stopped accepting from."""
    total = summary.total
    lines = [f"suggestions in {_period_words(summary.since_s)}: {total.shown} shown"]
    if total.shown:
        lines.append(
            f"accepted {total.accepted} + {total.partial} partly "
            f"({total.acceptance_rate:.1%}), {total.accepted_chars:,} characters "
            f"of {total.shown_chars:,} shown; {total.from_cache} answered from a cache; "
            f"latency p50 {total.latency_p50_ms:.0f} ms, p95 {total.latency_p95_ms:.0f} ms"
        )
        header = ("language", "model", "shown", "accepted", "rate", "chars", "p50 ms", "p95 ms")
        rows = [header] + [
            (
                g.language,
                g.model,
                str(g.shown),
                f"{g.accepted}+{g.partial}",
                f"{g.acceptance_rate:.1%}",
                f"{g.accepted_chars:,}",
                f"{g.latency_p50_ms:.0f}",
                f"{g.latency_p95_ms:.0f}",
            )
            for g in summary.groups
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            cells = [
                cell.ljust(width) if i < 2 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  ".join(cells).rstrip())
    for language, streak in quiet:
        lines.append(f"not accepted in {language}: the last {streak} suggestions")
    return "\n".join(lines)
