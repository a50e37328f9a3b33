"""Token healing: do not make the model continue from half a token.

When the text before the cursor ends in the middle of what the tokenizer would write as one
token ("self.va|" encodes as ... "va", while the model would write "value"), the prompt's
last token is one the model rarely saw followed by the rest of its word. Suffix-first (SPM)
and prefix-only prompts end with the prefix, so they suffer from it; the Code Llama paper
recommends healing: back the partial token(s) off the prompt and make the first generated
token(s) spell the removed text (a token that starts with it, or a token it starts with,
then the rest).

`back_off` is the pure decision; `PieceTable` answers the vocabulary questions (which pieces
extend a text, which pieces are allowed next) and is built once per model by the engine.
Pieces are bytes: byte-fallback tokens are parts of UTF-8 characters.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from cl_lsp.core.lru import LRU

# Cap what is backed off: the constraint stays short, the prompt keeps almost everything.
MAX_BACK_TOKENS = 2
MAX_BACK_BYTES = 24


class PieceTable:
    """Every token's text (bytes, leading space kept), sorted for prefix queries."""

    def __init__(self, pieces: Sequence[bytes], exclude: frozenset[int] = frozenset()) -> None:
        self._pieces = list(pieces)
        order = sorted((p, i) for i, p in enumerate(self._pieces) if p and i not in exclude)
        self._sorted = [p for p, _ in order]
        self._ids = [i for _, i in order]
        self._exact: dict[bytes, list[int]] = {}
        for piece, token in order:
            self._exact.setdefault(piece, []).append(token)
        self._allowed: LRU[bytes, tuple[int, ...]] = LRU(512)

    def __len__(self) -> int:
        return len(self._pieces)

    def piece(self, token: int) -> bytes:
        return self._pieces[token] if 0 <= token < len(self._pieces) else b""

    def _range(self, text: bytes) -> tuple[int, int]:
        """Indexes in the sorted table of the pieces that start with `text`."""
        lo = bisect.bisect_left(self._sorted, text)
        hi = lo
        # Bytes after `text` sort between text and text + b"\xff...": bisect on the next key.
        stripped = text.rstrip(b"\xff")
        if stripped:
            upper = stripped[:-1] + bytes([stripped[-1] + 1])
            hi = bisect.bisect_left(self._sorted, upper, lo)
        else:  # all 0xff (or empty): scan
            hi = lo
            while hi < len(self._sorted) and self._sorted[hi].startswith(text):
                hi += 1
        return lo, hi

    def extendable(self, text: bytes) -> bool:
        """Some piece is strictly longer than `text` and starts with it."""
        if not text:
            return False
        lo, hi = self._range(text)
        return hi - lo > len(self._exact.get(text, ()))

    def allowed(self, rest: bytes) -> tuple[int, ...]:
        """Tokens that can come next while `rest` is still to be spelled: pieces that start
        with `rest`, and pieces that are a proper beginning of it. Sorted ids, cached."""
        cached = self._allowed.get(rest)
        if cached is not None:
            return cached
        lo, hi = self._range(rest)
        found = set(self._ids[lo:hi])
        for end in range(1, len(rest)):
            found.update(self._exact.get(rest[:end], ()))
        return self._allowed.put(rest, tuple(sorted(found)))


@dataclass(frozen=True)
class BackOff:
    tokens: int  # trailing prompt ids to drop
    text: bytes  # what they spelled: the generation must start with it


NO_BACK_OFF = BackOff(0, b"")


def back_off(
    ids: Sequence[int],
    table: PieceTable,
    *,
    keep: int,
    max_tokens: int = MAX_BACK_TOKENS,
    max_bytes: int = MAX_BACK_BYTES,
) -> BackOff:
    """Which trailing tokens of `ids` to back off: the most (up to `max_tokens`) whose text
    some longer vocabulary piece starts with, never cutting into the first `keep` ids.

    Keep at least the first token of a SentencePiece segment in `keep`: its piece carries
    the dummy leading space, which is not text of the document.
    """
    best = NO_BACK_OFF
    text = b""
    for k in range(1, max_tokens + 1):
        if len(ids) - k < keep:
            break
        piece = table.piece(ids[-k])
        if not piece:  # a control token: nothing to heal across
            break
        text = piece + text
        if len(text) > max_bytes:
            break
        if table.extendable(text):
            best = BackOff(k, text)
    return best


def spell(pending: bytes, piece: bytes) -> tuple[bytes, bytes]:
    """Consume a generated piece against the text still to spell.

    Returns (what is still to spell, the piece's text beyond the healed part)."""
    if not pending:
        return b"", piece
    if piece.startswith(pending):
        return b"", piece[len(pending) :]
    if pending.startswith(piece):
        return pending[len(piece) :], b""
    raise ValueError("the piece does not spell the healed text")
