"""Saved KV states of recently used documents, least recently used first out of a RAM budget.

Switching to another file throws away the KV cache of the one you left; you usually come
back. A saved state is restored with a memcpy where a re-prefill of its thousands of
tokens takes seconds to minutes on a CPU. One state per document: the place you left it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from cl_lsp.core.prompt import common_prefix_length


@dataclass
class SavedState:
    """The KV cells of sequence 0 for `tokens`, as llama.cpp serialized them."""

    tokens: list[int]
    data: Any  # a ctypes uint8 array (any buffer with len())
    size: int  # bytes of `data` in use


class StateStore:
    """Document key -> SavedState, within `budget` bytes of buffers. The engine's worker
    changes it; best_match may also be called from other threads (hence the lock)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._states: OrderedDict[str, SavedState] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, key: str) -> bool:
        return key in self._states

    @property
    def used(self) -> int:
        return sum(len(state.data) for state in self._states.values())

    def best_match(self, ids: list[int]) -> tuple[str | None, int]:
        """The saved state sharing the longest token prefix with `ids`, and that length."""
        best: str | None = None
        shared = 0
        with self._lock:
            states = list(self._states.items())
        for key, state in states:
            n = common_prefix_length(state.tokens, ids)
            if n > shared:
                best, shared = key, n
        return best, shared

    def pop(self, key: str) -> SavedState | None:
        with self._lock:
            return self._states.pop(key, None)

    def spare_buffer(self, key: str, size: int) -> Any | None:
        """A buffer of at least `size` bytes to save `key`'s new state into: its old
        state's, which is dropped (its content is about to be replaced)."""
        with self._lock:
            old = self._states.get(key)
            if old is not None and len(old.data) >= size:
                del self._states[key]
                return old.data
            return None

    def fits(self, size: int) -> bool:
        return 0 < size <= self.budget

    def put(self, key: str, state: SavedState) -> list[str]:
        """Keep `state` as `key`'s (most recently used); evict the least recently used
        others until the budget holds. Returns the evicted keys."""
        with self._lock:
            self._states.pop(key, None)
            if len(state.data) > self.budget:
                return [key]  # bigger than the whole budget: keep the others
            self._states[key] = state
            evicted = []
            while self.used > self.budget:
                oldest = next(iter(self._states))  # never `key`: it alone fits
                del self._states[oldest]
                evicted.append(oldest)
            return evicted
