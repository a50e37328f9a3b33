"""Token counting with the model's tokenizer, cached: the same snippets recur per keystroke."""

from __future__ import annotations

from collections.abc import Callable

from cl_lsp.core.lru import LRU


class CachedCounter:
    """An LRU cache around a token counter: the same snippet lines are counted again and
    again across keystrokes, and real tokenizers are not free."""

    def __init__(self, count: Callable[[str], int], maxsize: int = 16384) -> None:
        self._count = count
        self._cache: LRU[str, int] = LRU(maxsize)

    def __call__(self, text: str) -> int:
        hit = self._cache.get(text)
        return hit if hit is not None else self._cache.put(text, self._count(text))


_COUNTERS: LRU[Callable[[str], int], CachedCounter] = LRU(4)


def cached_counter(count: Callable[[str], int]) -> CachedCounter:
    """One cache per counting function (bound methods compare equal, so they share one)."""
    if isinstance(count, CachedCounter):
        return count
    return _COUNTERS.get(count) or _COUNTERS.put(count, CachedCounter(count))
