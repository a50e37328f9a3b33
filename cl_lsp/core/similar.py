"""Similar-code windows: Jaccard over identifier sets, as RepoCoder and CrossCodeEval do."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cl_lsp.core.lru import LRU
from cl_lsp.core.scope import jaccard, token_set

# Window sizes from RepoCoder / CrossCodeEval.
WINDOW_LINES = 12
WINDOW_STRIDE = 6
QUERY_LINES = 12

_WINDOWS: LRU[tuple[str, str], list[tuple[int, int, frozenset[str]]]] = LRU(64)


def file_windows(
    path: str, text: str, size: int = WINDOW_LINES, stride: int = WINDOW_STRIDE
) -> list[tuple[int, int, frozenset[str]]]:
    """(first line, last line, identifier set) for sliding windows, cached by content."""
    key = (path, text)  # str hashes are cached, so this is cheap for unchanged buffers
    hit = _WINDOWS.get(key)
    if hit is not None:
        return hit
    lines = text.split("\n")
    sets = [token_set(line) for line in lines]
    windows = []
    for start in range(0, max(1, len(lines) - size + stride), stride):
        end = min(len(lines), start + size) - 1
        tokens = frozenset().union(*sets[start : end + 1])
        if tokens:
            windows.append((start, end, tokens))
    return _WINDOWS.put(key, windows)


def similar_windows(
    query: frozenset[str], files: Iterable[tuple[str, str]], limit: int = 8
) -> list[tuple[float, str, int, int]]:
    """The best non-overlapping windows: (score, path, first line, last line)."""
    scored = []
    for path, text in files:
        for start, end, tokens in file_windows(path, text):
            score = jaccard(query, tokens)
            if score > 0.0:
                scored.append((score, path, start, end))
    scored.sort(key=lambda s: (-round(s[0], 6), s[1], s[2]))
    chosen: list[tuple[float, str, int, int]] = []
    for score, path, start, end in scored:
        if any(p == path and start <= e and s <= end for _, p, s, e in chosen):
            continue
        chosen.append((score, path, start, end))
        if len(chosen) >= limit:
            break
    return chosen


def query_tokens(lines: Sequence[str], cursor_line: int) -> frozenset[str]:
    """The lines above the cursor line (never the line being typed)."""
    first = max(0, cursor_line - QUERY_LINES)
    return frozenset().union(*(token_set(line) for line in lines[first:cursor_line]))
