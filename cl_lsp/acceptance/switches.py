"""Per-language and per-path switches for completions (`completion.disabled_languages`,
`completion.disabled_globs`). Pure."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence


@functools.lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A gitignore-like glob as a regex over '/'-separated paths: `*` and `?` stay within
    one path segment, `**` crosses segments, a pattern without '/' matches a file name in
    any folder (`*.md`), one with '/' matches from the start of the path (`docs/**`)."""
    pattern = pattern.strip().replace("\\", "/")
    anchored = "/" in pattern.rstrip("/")
    pattern = pattern.lstrip("/")
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        out.append({"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char)))
        i += 1
    body = "".join(out)
    if pattern.endswith("/"):
        body += ".*"  # a folder: everything under it
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(f"^{prefix}{body}$")


def path_matches(paths: Iterable[str], globs: Sequence[str]) -> str | None:
    """The first glob that matches any of `paths` (workspace-relative and absolute)."""
    candidates = [p.replace("\\", "/") for p in paths if p]
    for glob in globs:
        if not glob.strip():
            continue
        regex = glob_regex(glob)
        for path in candidates:
            if regex.match(path) or regex.match(path.lstrip("/")):
                return glob
    return None


def disabled_reason(
    language_id: str | None,
    paths: Iterable[str],
    disabled_languages: Sequence[str],
    disabled_globs: Sequence[str],
) -> str | None:
    """Why completions are off for this document, or None when they are on."""
    if language_id and language_id.lower() in {lang.lower() for lang in disabled_languages}:
        return f"completion.disabled_languages has {language_id}"
    glob = path_matches(paths, disabled_globs)
    if glob is not None:
        return f"completion.disabled_globs has {glob}"
    return None
