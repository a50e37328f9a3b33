"""Acceptance statistics: aggregation and percentiles, period parsing, the path/language
switches, the quiet-context streaks, and the SQLite store (batched writes, accepts,
restarts, the row cap)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cl_lsp.acceptance.recorder import Recorder
from cl_lsp.acceptance.report import text
from cl_lsp.acceptance.store import StatsStore
from cl_lsp.acceptance.streaks import Streaks
from cl_lsp.acceptance.summary import (
    ACCEPTED,
    PARTIAL,
    Record,
    format_summary,
    parse_period,
    percentile,
    summarize,
)
from cl_lsp.acceptance.switches import disabled_reason, glob_regex, path_matches
from cl_lsp.config import Settings, StatsSettings, merged


def record(language: str = "python", latency: float = 10.0, **kw: object) -> Record:
    base: dict[str, object] = dict(
        language=language, model="m", layout="spm", source="model", latency_ms=latency, chars=10
    )
    base.update(kw)
    return Record(**base)  # type: ignore[arg-type]


# -- summary ---------------------------------------------------------------------------


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([7.0], 95) == 7.0
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(list(reversed(values)), 0) == 1.0
    assert percentile(values, 100) == 100.0


def test_summary_counts_rates_and_groups() -> None:
    records = [
        record(latency=10, accepted=ACCEPTED, accepted_chars=10),
        record(latency=20, accepted=PARTIAL, accepted_chars=4),
        record(latency=30),
        record(latency=40, source="typed"),
        record("go", latency=100, chars=5, accepted=ACCEPTED, accepted_chars=5),
    ]
    summary = summarize(records, since_s=3600)
    total = summary.total
    assert (total.shown, total.accepted, total.partial) == (5, 2, 1)
    assert total.accepted_chars == 19 and total.shown_chars == 45
    assert total.acceptance_rate == pytest.approx(3 / 5)
    assert total.from_cache == 1
    assert total.latency_p50_ms == 30
    python, go = summary.groups  # most shown first
    assert (python.language, python.shown, go.language, go.shown) == ("python", 4, "go", 1)
    assert python.acceptance_rate == pytest.approx(2 / 4)
    assert python.latency_p50_ms == pytest.approx(25.0)
    assert go.latency_p95_ms == 100
    data = summary.as_dict()
    assert data["total"]["acceptance_rate"] == 0.6 and "latencies" not in data["total"]
    printed = format_summary(summary, [("markdown", 60)])
    assert "5 shown" in printed and "60.0%" in printed and "the last 1h" in printed
    assert "not accepted in markdown: the last 60 suggestions" in printed
    assert printed.splitlines()[2].split() == [
        "language",
        "model",
        "shown",
        "accepted",
        "rate",
        "chars",
        "p50",
        "ms",
        "p95",
        "ms",
    ]


def test_empty_summary() -> None:
    summary = summarize([])
    assert summary.total.shown == 0 and summary.total.acceptance_rate == 0.0
    assert format_summary(summary) == "suggestions in all kept statistics: 0 shown"


def test_parse_period() -> None:
    assert parse_period("7d") == 7 * 86400
    assert parse_period("12h") == 12 * 3600
    assert parse_period(" 30m ") == 1800
    assert parse_period("2w") == 14 * 86400
    assert parse_period("1.5h") == 5400
    assert parse_period("all") is None
    for bad in ("7", "d", "-1d", "7 days", ""):
        with pytest.raises(ValueError):
            parse_period(bad)


# -- per-language and per-path switches --------------------------------------------------


@pytest.mark.parametrize(
    ("glob", "path", "hit"),
    [
        ("*.md", "README.md", True),
        ("*.md", "docs/guide/intro.md", True),
        ("*.md", "docs/guide/intro.mdx", False),
        ("docs/**", "docs/guide/intro.py", True),
        ("docs/**", "src/docs/intro.py", False),
        ("**/generated/*.py", "a/b/generated/x.py", True),
        ("**/generated/*.py", "generated/x.py", True),
        ("**/generated/*.py", "generated/sub/x.py", False),
        ("secrets/", "secrets/a/b.txt", True),
        ("test_?.py", "tests/test_a.py", True),
        ("test_?.py", "tests/test_ab.py", False),
        ("src/*.py", "src/a.py", True),
        ("src/*.py", "src/sub/a.py", False),
    ],
)
def test_globs(glob: str, path: str, hit: bool) -> None:
    assert bool(glob_regex(glob).match(path)) is hit


def test_disabled_reason() -> None:
    paths = ("notes/todo.md", "/home/u/ws/notes/todo.md")
    assert disabled_reason("markdown", paths, ["Markdown"], []) is not None
    assert disabled_reason("python", paths, ["markdown"], []) is None
    reason = disabled_reason("plaintext", paths, [], ["*.txt", "notes/**"])
    assert reason is not None and "notes/**" in reason
    assert disabled_reason("plaintext", paths, [], ["", "*.txt"]) is None
    assert path_matches(["/abs/outside/file.lock"], ["*.lock"]) == "*.lock"


def test_settings_lists_are_not_shared_between_merges() -> None:
    first, problems = merged(
        Settings(),
        {"completion": {"disabledLanguages": ["markdown"], "disabled_globs": ["*.lock"]}},
        {"stats": {"enabled": False, "maxRows": 10, "quietAfter": 5}},
    )
    assert problems == []
    assert first.completion.disabled_languages == ["markdown"]
    assert first.completion.disabled_globs == ["*.lock"]
    assert (first.stats.enabled, first.stats.max_rows, first.stats.quiet_after) == (False, 10, 5)
    second, _ = merged(first, {"completion": {"disabled_languages": ["go"]}})
    assert first.completion.disabled_languages == ["markdown"]
    assert second.completion.disabled_languages == ["go"]
    _, bad = merged(first, {"completion": {"disabled_languages": "markdown"}})
    assert bad and "disabled_languages" in bad[0]


# -- quiet contexts ----------------------------------------------------------------------


def test_streaks_count_suggestions_since_the_last_accept() -> None:
    streaks = Streaks.replay(
        [("python", False), ("python", True), ("python", False), ("md", False), ("md", False)]
    )
    assert streaks.streak("python") == 1 and streaks.streak("md") == 2
    assert streaks.quiet("md", 2) and not streaks.quiet("python", 2)
    assert not streaks.quiet("md", 0)  # 0: the rule is off
    assert streaks.quiet_languages(1) == [("md", 2), ("python", 1)]
    streaks.accepted("md")
    assert streaks.streak("md") == 0 and not streaks.quiet("md", 1)


# -- the store -----------------------------------------------------------------------------


def test_store_records_accepts_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "stats.sqlite3"
    store = StatsStore(path, linger_s=0.05)
    store.shown("a", record(chars=12))
    store.shown("b", record(chars=8))
    store.shown("c", record("go", chars=6))
    store.accepted("a", None)
    store.accepted("b", 3)  # a word of it
    store.accepted("b", 5)  # then another: partial accepts grow
    store.accepted("c", 99)  # never more than was shown
    store.accepted("unknown", None)  # an id from a pruned row: ignored
    rows = store.records().result(10)
    assert [(r.accepted, r.accepted_chars) for r in rows] == [
        (ACCEPTED, 12),
        (PARTIAL, 5),
        (PARTIAL, 6),
    ]
    store.accepted("b", None)  # then the rest: whole
    store.accepted("a", 2)  # a partial after a whole one does not undo it
    store.close()
    reopened = StatsStore(path)
    rows = reopened.records().result(10)
    reopened.close()
    assert [(r.accepted, r.accepted_chars) for r in rows] == [
        (ACCEPTED, 12),
        (ACCEPTED, 8),
        (PARTIAL, 6),
    ]


def test_store_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "stats.sqlite3"
    store = StatsStore(path, max_rows=50, linger_s=0.01)
    for n in range(180):
        store.shown(f"id{n}", record(chars=n))
    rows = store.records().result(10)
    store.close()
    assert len(rows) == 50
    assert [r.chars for r in rows] == list(range(130, 180))  # the newest are kept
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM suggestions").fetchone() == (50,)


def test_store_period_filter(tmp_path: Path) -> None:
    store = StatsStore(tmp_path / "s.sqlite3", linger_s=0.01)
    store.shown("old", record(chars=1), ts=1_000.0)
    store.shown("new", record(chars=2))
    assert [r.chars for r in store.records(3600).result(10)] == [2]
    assert [r.chars for r in store.records(None).result(10)] == [1, 2]
    store.close()


def test_store_that_cannot_open_reports_instead_of_raising(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = StatsStore(blocker / "stats.sqlite3")
    store.shown("a", record())  # dropped, no exception
    with pytest.raises(RuntimeError, match="statistics unavailable"):
        store.records().result(10)
    store.close()


def test_recorder_quiet_rule_reads_history_and_resets_on_accept(tmp_path: Path) -> None:
    path = tmp_path / "stats.sqlite3"
    settings = StatsSettings(quiet_after=3)
    first = Recorder(path)
    ids = [first.shown(settings, record("markdown")) for _ in range(3)]
    assert all(ids) and len(set(ids)) == 3
    assert first.summary(settings, None).result(10)["total"]["shown"] == 3
    assert first.quiet(settings, "markdown")
    assert not first.quiet(settings, "python")
    assert not first.quiet(StatsSettings(quiet_after=0), "markdown")
    first.close()
    # A restart rebuilds the streaks from the database.
    second = Recorder(path)
    data = second.summary(settings, None).result(10)
    assert data["quiet"] == [{"language": "markdown", "streak": 3}]
    assert second.quiet(settings, "markdown")
    id_ = second.shown(settings, record("markdown"))
    assert id_ is not None and second.accepted(settings, id_)
    assert not second.quiet(settings, "markdown")
    data = second.summary(settings, None).result(10)
    assert data["total"]["accepted"] == 1 and data["quiet"] == []
    printed = text(data)
    assert "accepted 1 + 0 partly (25.0%)" in printed and str(path) in printed
    second.close()


def test_recorder_switched_off_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "stats.sqlite3"
    recorder = Recorder(path)
    off = StatsSettings(enabled=False)
    assert recorder.shown(off, record()) is None
    assert recorder.accepted(off, "x") is False
    assert recorder.summary(off, None).result(1) == {"enabled": False}
    assert "off" in text({"enabled": False})
    recorder.close()
    assert not path.exists()
