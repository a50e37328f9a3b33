"""The syntax guard of the post-processor: a completion is cut back to the longest run of
its lines that leaves the file with no new syntax errors around the cursor, judged on the
document's tree reparsed incrementally (small files) or on whole statements within a
window around the cursor (big files without a tree)."""

from __future__ import annotations

import tree_sitter as ts

from .languages import new_parser, spec_by_name

SYNTAX_TRIES = 5
GUARD_FULL_BYTES = 48_000  # documents up to this size are reparsed whole (incrementally)
GUARD_WINDOW_BYTES = 8_000  # bigger ones: whole statements within this much a side

def count_errors(tree: ts.Tree, inside: tuple[int, int] | None = None) -> int:
    """ERROR and MISSING nodes, descending only into subtrees that hold some; those lying
    wholly inside the byte range `inside` are not counted when it is given."""
    count = 0
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            contained = (
                inside is not None and inside[0] <= node.start_byte <= node.end_byte <= inside[1]
            )
            count += not contained
        stack.extend(child for child in node.children if child.has_error or child.is_missing)
    return count


def point_after(text: bytes, start: tuple[int, int]) -> tuple[int, int]:
    newlines = text.count(b"\n")
    if not newlines:
        return (start[0], start[1] + len(text))
    return (start[0] + newlines, len(text) - text.rfind(b"\n") - 1)


def guard_window(tree: ts.Tree, cursor: int, limit: int) -> tuple[int, int]:
    """Byte range of whole sibling nodes around the cursor, at most `limit` bytes a side.

    Descends from the root through the node holding the cursor until its children fit:
    a window that starts and ends at statement boundaries parses like the full file
    (never from the middle of a docstring), at a fraction of the cost.
    """
    low, high = cursor - limit, cursor + limit
    node = tree.root_node
    while True:
        children = node.children
        first = next((c for c in children if low <= c.start_byte <= cursor), None)
        last = next((c for c in reversed(children) if cursor <= c.end_byte <= high), None)
        if first is not None and last is not None:
            return first.start_byte, last.end_byte
        inner = next((c for c in children if c.start_byte <= cursor <= c.end_byte), None)
        if inner is None or inner == node:
            # Inside one huge leaf (a module-long string): no statement bounds to use.
            return max(node.start_byte, low), min(node.end_byte, high)
        node = inner


def _window_text(prefix: str, suffix: str, half: int) -> tuple[str, str]:
    """At most `half` characters each side of the cursor, cut at line boundaries when a
    line boundary is in reach."""
    if len(prefix) > half:
        cut = len(prefix) - half
        newline = prefix.find("\n", cut)
        prefix = prefix[newline + 1 :] if newline >= 0 else prefix[cut:]
    if len(suffix) > half:
        newline = suffix.rfind("\n", 0, half)
        suffix = suffix[: newline + 1] if newline >= 0 else suffix[:half]
    return prefix, suffix


class _Reparser:
    """Parses prefix + candidate + suffix incrementally against the cursor document."""

    def __init__(self, prefix: str, suffix: str, language: str, tree: ts.Tree | None) -> None:
        self.parser = new_parser(language)
        if tree is None and len(prefix) + len(suffix) > GUARD_FULL_BYTES:
            # A huge document with no kept tree: parsing all of it for every answer took
            # seconds and a gigabyte (a 5 MB line). Judge the completion in a window.
            prefix, suffix = _window_text(prefix, suffix, GUARD_WINDOW_BYTES // 2)
        self.suffix = suffix
        self.head = prefix.encode("utf-8")
        self.tail = suffix.encode("utf-8")
        if tree is not None and len(self.head) + len(self.tail) > GUARD_FULL_BYTES:
            # Even an incremental reparse of a big file costs tens of ms: parse a window.
            start, end = guard_window(tree, len(self.head), GUARD_WINDOW_BYTES)
            self.head = self.head[start:]
            self.tail = self.tail[: max(0, end - start - len(self.head))]
            self.suffix = self.tail.decode("utf-8", "replace")
            tree = None
        self.base = tree if tree is not None else self.parser.parse(self.head + self.tail)
        # C and C++ macros trip the grammar inside perfectly good code: there only errors
        # that reach outside the completion count.
        self.local_errors_ok = language in ("c", "cpp")
        offset = len(self.head)
        self.baseline = count_errors(self.base, (offset, offset) if self.local_errors_ok else None)
        self.start = point_after(self.head, (0, 0))

    def errors_with(self, text: str, replace: int) -> int:
        middle = text.encode("utf-8")
        removed = len(self.suffix[:replace].encode("utf-8"))
        old = self.tail[:removed]
        tree = self.base.copy()
        offset = len(self.head)
        tree.edit(
            start_byte=offset,
            old_end_byte=offset + len(old),
            new_end_byte=offset + len(middle),
            start_point=self.start,
            old_end_point=point_after(old, self.start),
            new_end_point=point_after(middle, self.start),
        )
        new = self.parser.parse(self.head + middle + self.tail[removed:], tree)
        inside = (offset, offset + len(middle)) if self.local_errors_ok else None
        return count_errors(new, inside)


def syntax_guard(
    text: str,
    replace: int,
    prefix: str,
    suffix: str,
    language: str | None,
    tree: ts.Tree | None = None,
) -> tuple[str, int]:
    """Keep the longest line-prefix of the completion that adds no parse errors.

    Full text first, then a bisection over line counts: SYNTAX_TRIES parses at most.
    """
    if language is None or spec_by_name(language) is None or not text:
        return text, replace
    reparser = _Reparser(prefix, suffix, language, tree)
    if reparser.errors_with(text, replace) <= reparser.baseline:
        return text, replace
    lines = text.split("\n")
    good, bad = 0, len(lines)  # line counts known to be fine / to add errors
    for _ in range(SYNTAX_TRIES - 1):
        if bad - good <= 1:
            break
        mid = (good + bad) // 2
        if reparser.errors_with("\n".join(lines[:mid]), 0) <= reparser.baseline:
            good = mid
        else:
            bad = mid
    return ("\n".join(lines[:good]).rstrip(), 0) if good else ("", 0)
