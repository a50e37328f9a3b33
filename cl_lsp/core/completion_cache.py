"""Answers that need no model: typed-through suggestions and recently computed prompts.

* Typed-through: the editor shows a suggestion; the user types its first characters. The
  rest of the same suggestion is the answer (editors re-ask on every keystroke), so the
  model is not run again as long as the typed text matches what was on screen.
* LRU: the completion for a prompt text (window prefix/suffix + repository context + shape)
  is remembered; backspacing to an earlier state, or asking again at the same place,
  answers from memory. Keys are hashes, so the cache holds no copies of prompt text.

Pure: no LSP, no model. The caller decides what a key covers and when to record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cl_lsp.core.lru import LRU
from cl_lsp.core.suggestion import Suggestion


@dataclass(frozen=True)
class _Shown:
    before: str  # document text before the cursor when it was shown
    after: str  # ... and after it
    suggestion: Suggestion


def prompt_key(*parts: str) -> str:
    """A hash of the prompt-relevant texts (separated, so ("ab", "c") != ("a", "bc"))."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


class CompletionCache:
    """Per-document suggestion on screen plus an LRU of completions by prompt key."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._shown: dict[str, _Shown] = {}
        self._lru: LRU[str, Suggestion] = LRU(capacity)

    # -- typed-through ----------------------------------------------------------------
    def show(self, document: str, text: str, offset: int, suggestion: Suggestion) -> None:
        """Remember what the editor now shows for `document` at `offset`."""
        if not suggestion.text:
            self._shown.pop(document, None)
            return
        self._shown[document] = _Shown(text[:offset], text[offset:], suggestion)

    def typed_through(self, document: str, text: str, offset: int) -> Suggestion | None:
        """The rest of the suggestion on screen when the user typed its beginning."""
        shown = self._shown.get(document)
        if shown is None:
            return None
        before_len = len(shown.before)
        typed_len = offset - before_len
        if typed_len <= 0 or len(text) - offset != len(shown.after):
            return None
        if not text.startswith(shown.before) or not text.endswith(shown.after):
            return None
        typed = text[before_len:offset]
        full = shown.suggestion.text
        if len(typed) >= len(full) or not full.startswith(typed):
            return None
        return Suggestion(full[len(typed) :], shown.suggestion.replace_suffix_chars)

    def forget(self, document: str) -> None:
        self._shown.pop(document, None)

    # -- LRU --------------------------------------------------------------------------
    def get(self, key: str) -> Suggestion | None:
        return self._lru.get(key)

    def put(self, key: str, suggestion: Suggestion) -> None:
        self._lru.put(key, suggestion)

    def __len__(self) -> int:
        return len(self._lru)
