"""Tokenize a growing prompt without re-tokenizing all of it on every keystroke.

While the user types, the text before the cursor changes only on its last line. With a
SentencePiece vocabulary no token spans a newline, so the ids of "everything up to the
last newline" can be kept and only the last line encoded (as a continuation: no dummy
space). Whether the vocabulary really behaves so is checked once, on sample code, and the
encoder falls back to plain encoding when it does not.
"""

from __future__ import annotations

from collections.abc import Callable

from cl_lsp.core.lru import LRU
from cl_lsp.core.prompt import encode_infill

Encode = Callable[[str], list[int]]

# Code shapes that would expose a merge across a newline (indentation, blank lines,
# brackets, comments, non-ASCII).
_SAMPLES = (
    ("def f(x):\n", "    return x + 1\n"),
    ("class A:\n    \n", "\n    def g(self):  # é\n        pass"),
    ("if (a) {\n", "\t}\n}\n"),
    ("// 注释\n", "  x = [1, 2,\n"),
    ("x = 1\n\n\n", "   y"),
)


class LineEncoder:
    """`encode(text)`, memoizing the ids of the text up to its last newline."""

    def __init__(self, encode: Encode, sentencepiece_space: bool, size: int = 4) -> None:
        self._encode = encode
        self._space = sentencepiece_space
        self._memo: LRU[str, list[int]] = LRU(size)
        self.splits = sentencepiece_space and self._separable()

    def _separable(self) -> bool:
        encode = self._encode
        try:
            return all(
                encode(head + tail) == encode(head) + encode_infill(encode, tail, True)
                for head, tail in _SAMPLES
            )
        except Exception:  # a remote tokenizer that is down: just encode whole texts
            return False

    def __call__(self, text: str) -> list[int]:
        cut = text.rfind("\n") + 1 if self.splits else 0
        if cut <= 0 or cut == len(text):
            return self._remembered(text)
        head = self._remembered(text[:cut])
        return head + encode_infill(self._encode, text[cut:], self._space)

    def _remembered(self, text: str) -> list[int]:
        ids = self._memo.get(text)
        if ids is None:
            ids = self._memo.put(text, self._encode(text))
        return list(ids)
