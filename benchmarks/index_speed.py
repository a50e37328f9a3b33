"""Repository index speed on a large real tree (default: this Python's stdlib).

Phases, each in a fresh process so peak RSS is per phase:
  cold     fresh cache dir: walk, read, parse and tag every file, write the SQLite cache
  warm     same cache: stat only, tags loaded from SQLite, nothing parsed
  reindex  one-file updates (content changed, so hashed, parsed, tagged and written),
           over a fixed sample of files with 200-800 lines; p50/p95 per update

Targets: cold < 60 s on 2 cores, warm < 5 s, one-file re-index p95 < 20 ms.

Usage: python benchmarks/index_speed.py [--root DIR] [--samples 200] [--cache-dir DIR]
Writes benchmarks/results/index_speed.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cl_lsp.core.index import RepositoryIndex  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "index_speed.json"
TARGETS = {"cold_s": 60.0, "warm_s": 5.0, "reindex_p95_ms": 20.0}


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _scan_phase(root: Path, cache: Path) -> dict[str, object]:
    index = RepositoryIndex(root, cache)
    started = time.perf_counter()
    index.scan()
    seconds = time.perf_counter() - started
    stats = index.stats()
    index.close()
    files = int(stats["files"])  # type: ignore[call-overload]
    return {
        "seconds": round(seconds, 3),
        "files": files,
        "files_per_s": round(files / seconds, 1) if seconds else None,
        "definitions": stats["definitions"],
        "parsed": stats["parsed"],
        "reused": stats["reused"],
        "skipped": stats["skipped"],
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def _reindex_phase(root: Path, cache: Path, samples: int) -> dict[str, object]:
    index = RepositoryIndex(root, cache)
    index.scan()
    sized = []
    for rel in index.files():
        try:
            data = (root / rel).read_bytes()
        except OSError:
            continue
        if 200 <= data.count(b"\n") <= 800:
            sized.append((rel, data))
    random.Random(0).shuffle(sized)
    sized = sized[:samples]
    times_ms: list[float] = []
    lines: list[int] = []
    for n, (rel, data) in enumerate(sized):
        changed = data + f"\n# edit {n}\n".encode()  # new content: a real re-parse
        started = time.perf_counter()
        index.update_file(rel, changed)
        times_ms.append((time.perf_counter() - started) * 1000)
        lines.append(changed.count(b"\n"))
    index.close()
    times_ms.sort()
    q = statistics.quantiles(times_ms, n=20) if len(times_ms) >= 2 else times_ms * 19
    return {
        "samples": len(times_ms),
        "median_lines": statistics.median(lines) if lines else 0,
        "p50_ms": round(statistics.median(times_ms), 2) if times_ms else None,
        "p95_ms": round(q[18], 2) if times_ms else None,
        "max_ms": round(times_ms[-1], 2) if times_ms else None,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def _run_child(phase: str, root: Path, cache: Path, samples: int) -> dict[str, object]:
    cmd = [
        sys.executable,
        __file__,
        "--phase",
        phase,
        "--root",
        str(root),
        "--cache-dir",
        str(cache),
        "--samples",
        str(samples),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--phase", choices=["cold", "warm", "reindex"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:  # child process: one phase, one JSON line
        if args.phase == "reindex":
            result = _reindex_phase(args.root, args.cache_dir, args.samples)
        else:
            result = _scan_phase(args.root, args.cache_dir)
        print(json.dumps(result))
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="cl-lsp-index-bench-"))
    cache = args.cache_dir or tmp / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    try:
        cold = _run_child("cold", args.root, cache, args.samples)
        warm = _run_child("warm", args.root, cache, args.samples)
        # Re-index edits the cache; a copy keeps the user's --cache-dir as the scans left it.
        reindex_cache = tmp / "reindex-cache"
        shutil.copytree(cache, reindex_cache, dirs_exist_ok=True)
        reindex = _run_child("reindex", args.root, reindex_cache, args.samples)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    report = {
        "root": str(args.root),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "cold": cold,
        "warm": warm,
        "reindex": reindex,
        "targets": TARGETS,
        "meets_targets": {
            "cold_s": float(cold["seconds"]) < TARGETS["cold_s"],  # type: ignore[arg-type]
            "warm_s": float(warm["seconds"]) < TARGETS["warm_s"],  # type: ignore[arg-type]
            "reindex_p95_ms": reindex["p95_ms"] is not None
            and float(reindex["p95_ms"]) < TARGETS["reindex_p95_ms"],  # type: ignore[arg-type]
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")

    print(f"root: {args.root}  ({cold['files']} files indexed, {cold['definitions']} definitions)")
    print(f"{'phase':<10}{'seconds':>9}{'files/s':>10}{'parsed':>8}{'peak RSS MB':>13}")
    for name, row in (("cold", cold), ("warm", warm)):
        print(
            f"{name:<10}{row['seconds']:>9}{row['files_per_s']:>10}{row['parsed']:>8}"
            f"{row['peak_rss_mb']:>13}"
        )
    print(
        f"reindex   {reindex['samples']} files (median {reindex['median_lines']} lines): "
        f"p50 {reindex['p50_ms']} ms, p95 {reindex['p95_ms']} ms, max {reindex['max_ms']} ms, "
        f"peak RSS {reindex['peak_rss_mb']} MB"
    )
    print(f"skipped (cold): {cold['skipped']}")
    print(f"meets targets: {report['meets_targets']}")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
