"""A replacement of a range of a text, and its smallest form."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    new_text: str

    def apply(self, text: str) -> str:
        return text[: self.start] + self.new_text + text[self.end :]


def minimal_edit(text: str, start: int, end: int, replacement: str) -> Edit:
    """Replace text[start:end] by `replacement`, trimmed to the characters that differ."""
    old = text[start:end]
    a = 0
    limit = min(len(old), len(replacement))
    while a < limit and old[a] == replacement[a]:
        a += 1
    b = 0
    while b < limit - a and old[len(old) - 1 - b] == replacement[len(replacement) - 1 - b]:
        b += 1
    return Edit(start + a, end - b, replacement[a : len(replacement) - b])
