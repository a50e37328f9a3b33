"""`cl-lsp stats` and the statistics section of `cl-lsp doctor`: read the database
outside a server and print the summary."""

from __future__ import annotations

import json
from typing import Any, TextIO

from cl_lsp.acceptance.recorder import Recorder
from cl_lsp.acceptance.summary import Group, Summary, format_summary
from cl_lsp.config import StatsSettings


def read(settings: StatsSettings, since_s: float | None, timeout: float = 30.0) -> dict[str, Any]:
    recorder = Recorder()
    try:
        return recorder.summary(settings, since_s).result(timeout)
    finally:
        recorder.close()


def _group(data: dict[str, Any]) -> Group:
    fields = {k: v for k, v in data.items() if k != "acceptance_rate"}
    return Group(**fields)


def text(data: dict[str, Any]) -> str:
    """The printed form of a `read` (or `cl-lsp.stats`) answer."""
    if not data.get("enabled"):
        return "acceptance statistics are off (stats.enabled = false)"
    summary = Summary(
        _group(data["total"]), [_group(g) for g in data["groups"]], data.get("since_s")
    )
    quiet = [(q["language"], q["streak"]) for q in data.get("quiet", [])]
    lines = [format_summary(summary, quiet)]
    if quiet:
        after = data.get("quiet_after", 0)
        lines.append(
            "automatic suggestions there wait for an explicit request "
            f"(stats.quiet_after = {after})"
            if after
            else "set stats.quiet_after to stop automatic suggestions there, or "
            "completion.disabled_languages to turn them off"
        )
    lines.append(f"(kept locally in {data.get('path')}; stats.enabled = false turns this off)")
    return "\n".join(lines)


def print_stats(settings: StatsSettings, since_s: float | None, as_json: bool, out: TextIO) -> int:
    data = read(settings, since_s)
    if as_json:
        json.dump(data, out, indent=2)
        out.write("\n")
    else:
        print(text(data), file=out)
    return 0
