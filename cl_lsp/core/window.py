"""Choose the in-file prefix and suffix around the cursor, stable across keystrokes.

Both window edges move in whole chunks of lines, so while the user types, the suffix (which
SPM evaluates first) and the start of the prefix stay byte-identical and the model's KV
cache keeps everything up to the cursor.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextWindow:
    prefix: str  # text from the window start up to the cursor
    suffix: str  # text from the cursor to the window end
    prefix_start: int  # string offsets of the window in the document
    suffix_end: int


def _start_of_line_before(text: str, offset: int, lines: int) -> int:
    """The offset where the line `lines` lines above the one holding `offset` starts."""
    index = text.rfind("\n", 0, offset)
    for _ in range(lines):
        if index == -1:
            return 0
        index = text.rfind("\n", 0, index)
    return index + 1


def _start_of_line_after(text: str, offset: int, lines: int) -> int:
    """The offset where the line `lines` lines below the one holding `offset` starts
    (the end of the text when there are fewer)."""
    index = offset - 1
    for _ in range(lines):
        index = text.find("\n", index + 1)
        if index == -1:
            return len(text)
    return index + 1


def fim_window(
    text: str,
    offset: int,
    *,
    max_prefix_lines: int = 256,
    max_suffix_lines: int = 64,
    max_prefix_chars: int = 24_000,
    max_suffix_chars: int = 6_000,
    chunk: int = 32,
) -> TextWindow:
    """The prefix/suffix window for a cursor at string offset `offset`."""
    offset = max(0, min(offset, len(text)))
    # Only the lines inside the window are walked: a keystroke in a 10,000-line file costs
    # the same as one in a 300-line file.
    line = text.count("\n", 0, offset)

    # Round the first prefix line up to a chunk boundary: the start moves every `chunk` lines.
    first = min(line, max(0, -(-(line - max_prefix_lines) // chunk) * chunk))
    prefix_start = _start_of_line_before(text, offset, line - first)
    if offset - prefix_start > max_prefix_chars:
        cut = text.find("\n", offset - max_prefix_chars)
        prefix_start = cut + 1 if 0 <= cut < offset else offset - max_prefix_chars

    # The suffix is the next lines after the cursor, counted from the cursor: typing (a
    # newline included) leaves the text after the cursor as it was, so the suffix stays
    # byte-identical and a suffix-first prompt keeps its whole KV cache. (Rounding its end
    # to absolute line numbers would drop a line from it at every Enter.)
    suffix_end = _start_of_line_after(text, offset, max(1, max_suffix_lines))
    if suffix_end - offset > max_suffix_chars:
        cut = text.rfind("\n", offset, offset + max_suffix_chars)
        suffix_end = cut + 1 if cut > offset else offset + max_suffix_chars

    return TextWindow(text[prefix_start:offset], text[offset:suffix_end], prefix_start, suffix_end)
