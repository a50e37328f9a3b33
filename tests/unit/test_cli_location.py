"""`cl-lsp complete FILE:LINE:COL`: 1-based character columns through the document's
position conversion."""

from __future__ import annotations

import pytest

from cl_lsp.cli import location_offset, parse_location

TEXT = "def f():\r\n    return 1\n😀x = 2\fy\n"


@pytest.mark.parametrize(
    ("line", "col", "expected"),
    [
        (1, 1, 0),
        (1, 9, 8),  # the end of "def f():"
        (1, 40, 8),  # past the end: clamped before the \r\n
        (2, 5, TEXT.index("return")),
        (3, 2, TEXT.index("x = 2")),  # the emoji is one column (one character)
        (3, 8, TEXT.index("y")),  # form feed is no line break in LSP
        (4, 1, len(TEXT)),  # the empty last line
        (9, 3, len(TEXT)),  # past the last line: the end of the text
    ],
)
def test_location_offset(line: int, col: int, expected: int) -> None:
    assert location_offset(TEXT, line, col) == expected


def test_parse_location_keeps_colons_in_the_path() -> None:
    path, line, col = parse_location("C:/work/a.py:3:0")
    assert (str(path), line, col) == ("C:/work/a.py", 3, 1)
