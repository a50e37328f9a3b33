"""The one LRU map: recency, eviction, and falsy values that are still hits."""

from __future__ import annotations

from cl_lsp.core.lru import LRU


def test_least_recently_used_goes_first() -> None:
    lru: LRU[str, int] = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # "a" is now the most recent
    lru.put("c", 3)
    assert (lru.get("a"), lru.get("b"), lru.get("c")) == (1, None, 3)
    assert len(lru) == 2


def test_put_returns_the_value_and_replaces_in_place() -> None:
    lru: LRU[str, tuple[int, ...]] = LRU(2)
    assert lru.put("x", ()) == ()
    assert lru.get("x") == ()  # an empty value is a hit, not a miss
    lru.put("y", (1,))
    lru.put("x", (2,))  # refreshes "x": "y" is the oldest now
    lru.put("z", (3,))
    assert (lru.get("x"), lru.get("y"), lru.get("z")) == ((2,), None, (3,))
