"""Typed-through answers and the LRU of completions."""

from __future__ import annotations

from cl_lsp.core.completion_cache import CompletionCache, prompt_key
from cl_lsp.core.suggestion import Suggestion

DOC = "def f(x):\n    return \n"
CURSOR = DOC.index("return ") + len("return ")


def typed(text: str) -> tuple[str, int]:
    return DOC[:CURSOR] + text + DOC[CURSOR:], CURSOR + len(text)


def test_typing_the_suggestion_answers_the_rest() -> None:
    cache = CompletionCache()
    cache.show("a.py", DOC, CURSOR, Suggestion("x * 2", 0))
    text, offset = typed("x ")
    assert cache.typed_through("a.py", text, offset) == Suggestion("* 2", 0)
    text, offset = typed("x * ")
    assert cache.typed_through("a.py", text, offset) == Suggestion("2", 0)


def test_typed_through_misses() -> None:
    cache = CompletionCache()
    cache.show("a.py", DOC, CURSOR, Suggestion("x * 2", 1))
    assert cache.typed_through("a.py", *typed("y")) is None  # typed something else
    assert cache.typed_through("a.py", *typed("x * 2")) is None  # typed all of it
    assert cache.typed_through("a.py", DOC, CURSOR) is None  # nothing typed
    assert cache.typed_through("b.py", *typed("x")) is None  # another document
    edited = DOC.replace("def f", "def g")
    assert cache.typed_through("a.py", edited[:CURSOR] + "x" + edited[CURSOR:], CURSOR + 1) is None
    text, offset = typed("x")
    assert cache.typed_through("a.py", text + "# more", offset) is None  # the suffix changed
    cache.forget("a.py")
    assert cache.typed_through("a.py", *typed("x")) is None


def test_an_empty_suggestion_clears_the_screen() -> None:
    cache = CompletionCache()
    cache.show("a.py", DOC, CURSOR, Suggestion("x * 2", 0))
    cache.show("a.py", DOC, CURSOR, Suggestion("", 0))
    assert cache.typed_through("a.py", *typed("x")) is None


def test_lru_evicts_the_least_recently_used() -> None:
    cache = CompletionCache(capacity=2)
    cache.put("a", Suggestion("1", 0))
    cache.put("b", Suggestion("2", 0))
    assert cache.get("a") == Suggestion("1", 0)  # a is now the most recent
    cache.put("c", Suggestion("3", 0))
    assert cache.get("b") is None and cache.get("a") is not None and len(cache) == 2


def test_prompt_keys_separate_their_parts() -> None:
    assert prompt_key("ab", "c") != prompt_key("a", "bc")
    assert prompt_key("x", "y") == prompt_key("x", "y")
