"""Token healing: the back-off decision and the vocabulary queries, on a toy vocabulary."""

from __future__ import annotations

import pytest

from cl_lsp.core.healing import NO_BACK_OFF, BackOff, PieceTable, back_off, spell

# id: piece. 0 is a control token (no text); 9 repeats a piece, as byte tokens do.
PIECES = [b"", b" x", b" =", b" self", b".", b"va", b"val", b"value", b"values", b"v", b"\xff"]
TABLE = PieceTable(PIECES)


def test_extendable_means_a_strictly_longer_piece_starts_with_it() -> None:
    assert TABLE.extendable(b"va") and TABLE.extendable(b"val") and TABLE.extendable(b"v")
    assert TABLE.extendable(b"value")  # "values"
    assert not TABLE.extendable(b"values") and not TABLE.extendable(b".")
    assert not TABLE.extendable(b"") and not TABLE.extendable(b"zz")
    assert not TABLE.extendable(b"\xff")


def test_allowed_pieces_start_with_or_begin_the_rest() -> None:
    pieces = {TABLE.piece(i) for i in TABLE.allowed(b"val")}
    assert pieces == {b"val", b"value", b"values", b"va", b"v"}
    assert TABLE.allowed(b"val") is TABLE.allowed(b"val")  # cached
    assert TABLE.allowed(b"q") == ()


def test_excluded_tokens_are_never_allowed() -> None:
    table = PieceTable(PIECES, exclude=frozenset({7}))
    assert 7 not in table.allowed(b"val") and 8 in table.allowed(b"val")


def test_back_off_the_partial_last_token() -> None:
    ids = [1, 2, 3, 4, 5]  # " x = self.va"
    assert back_off(ids, TABLE, keep=1) == BackOff(1, b"va")
    # A finished token that nothing extends stays.
    assert back_off([1, 2, 3, 4], TABLE, keep=1) == NO_BACK_OFF
    # Never into the kept head (the segment's first token carries the dummy space).
    assert back_off([5], TABLE, keep=1) == NO_BACK_OFF
    assert back_off([0, 5], TABLE, keep=1) == BackOff(1, b"va")
    # Control tokens stop the walk.
    assert back_off([1, 0], TABLE, keep=0) == NO_BACK_OFF


def test_back_off_takes_two_tokens_when_together_they_are_partial() -> None:
    ids = [1, 9, 5]  # " x" "v" "va": "vva" is no piece's start, "va" is
    assert back_off(ids, TABLE, keep=1) == BackOff(1, b"va")
    table = PieceTable([b"", b" x", b"a", b"b", b"abc"])
    assert back_off([1, 2, 3], table, keep=1) == BackOff(2, b"ab")
    assert back_off([1, 2, 3], table, keep=1, max_tokens=1) == NO_BACK_OFF
    assert back_off([1, 2, 3], table, keep=1, max_bytes=1) == NO_BACK_OFF


def test_spell_consumes_the_healed_text() -> None:
    assert spell(b"va", b"value") == (b"", b"lue")
    assert spell(b"val", b"va") == (b"l", b"")
    assert spell(b"", b"xy") == (b"", b"xy")
    with pytest.raises(ValueError):
        spell(b"va", b"x")
