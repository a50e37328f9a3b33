"""Positions in UTF-8/16/32, LSP line breaks, clamping and incremental edits."""

import pytest

from cl_lsp.core.document import (
    UTF8,
    UTF16,
    UTF32,
    Document,
    DocumentStore,
    Position,
    column_to_index,
    units_in,
)

TEXT = 'a = "😋"\nb = "é"\r\nc = 1\rlast'


def test_line_breaks_are_lsp_line_breaks_only() -> None:
    doc = Document("u", "x\u2028y\x0cz\nw")  # U+2028 and form feed do not end LSP lines
    assert doc.line_count == 2
    assert doc.line_text(0) == "x\u2028y\x0cz"
    assert Document("u", TEXT).line_count == 4


@pytest.mark.parametrize(
    ("encoding", "column"),
    [(UTF8, 9), (UTF16, 7), (UTF32, 6)],  # the closing quote after the emoji
)
def test_offset_of_position_after_non_bmp_char(encoding: str, column: int) -> None:
    doc = Document("u", TEXT)
    offset = doc.offset_at(Position(0, column), encoding)
    assert TEXT[offset] == '"'
    assert doc.position_at(offset, encoding) == Position(0, column)


def test_position_inside_a_surrogate_pair_rounds_down() -> None:
    assert column_to_index("😋x", 1, UTF16) == 0
    assert column_to_index("😋x", 2, UTF16) == 1


def test_out_of_range_positions_are_clamped() -> None:
    doc = Document("u", TEXT)
    assert doc.offset_at(Position(0, 999)) == TEXT.index("\n")
    assert doc.offset_at(Position(99, 0)) == len(TEXT)
    assert doc.offset_at(Position(-1, 0)) == 0
    assert doc.position_at(10_000) == doc.position_at(len(TEXT))


def test_crlf_line_end_is_not_part_of_the_line() -> None:
    doc = Document("u", TEXT)
    assert doc.line_text(1) == 'b = "é"'
    assert doc.offset_at(Position(1, 100)) == TEXT.index("\r\n")


@pytest.mark.parametrize("encoding", [UTF8, UTF16, UTF32])
def test_incremental_edits_match_reference(encoding: str) -> None:
    doc = Document("u", TEXT)
    # Replace the emoji with two CJK characters, in client units of each encoding.
    start = Position(0, 5)
    end = Position(0, 5 + units_in("😋", encoding))
    doc.apply_change("漢字", start, end, encoding)
    assert doc.text == TEXT.replace("😋", "漢字")
    # Insert at the very end and delete across a CRLF.
    doc.apply_change("!", Position(3, 4), Position(3, 4), encoding)
    assert doc.text.endswith("last!")
    doc.apply_change("", Position(1, 0), Position(2, 0), encoding)
    assert doc.text == 'a = "漢字"\nc = 1\rlast!'


def test_full_change_replaces_text() -> None:
    doc = Document("u", "old")
    doc.apply_change("new\ntext")
    assert doc.text == "new\ntext" and doc.line_count == 2


def test_reversed_range_is_normalised() -> None:
    doc = Document("u", "abcdef")
    doc.apply_change("X", Position(0, 4), Position(0, 1))
    assert doc.text == "aXef"


def test_store_tracks_recent_edits_newest_first() -> None:
    store = DocumentStore(max_recent_edits=2)
    store.open("a", "", 1, "python")
    store.note_edit("a", 1)
    store.note_edit("a", 5)
    store.note_edit("a", 1)
    store.note_edit("a", 9)
    assert store.recent_edits() == [("a", 9), ("a", 1)]
    store.close("a")
    assert store.get("a") is None and store.recent_edits() == []
