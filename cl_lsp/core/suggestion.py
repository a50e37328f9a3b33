"""What the editor inserts: the one type for "text plus the characters after the cursor it
replaces", made by the post-processor, kept by the completion caches, and turned into an
LSP range by the handlers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Suggestion:
    text: str  # inserted at the cursor
    replace_suffix_chars: int = 0  # characters after the cursor it replaces (suffix overlap)


EMPTY = Suggestion("", 0)
