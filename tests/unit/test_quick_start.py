"""A cursor at a new place: a first answer from a short window, the full prompt prefilled
behind it for the next keystroke."""

from __future__ import annotations

from pathlib import Path

from cl_lsp.config import ModelSettings, Settings
from cl_lsp.engine.loader import load_engine
from cl_lsp.service import CompletionRequest, CompletionService

DOCUMENT = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(120))


def service_for(tiny_model: Path, quick_tokens: int) -> CompletionService:
    settings = Settings(model=ModelSettings(path=str(tiny_model), n_ctx=4096, n_batch=64))
    settings.completion.quick_start_tokens = quick_tokens
    settings.completion.quick_start_lines = 8
    settings.completion.max_tokens = 4
    settings.completion.cache = False
    return CompletionService(load_engine(settings.model)[0], settings, None)


def test_cold_place_answers_from_a_short_prompt_then_reuses_the_full_one(
    tiny_model: Path,
) -> None:
    quick = service_for(tiny_model, 256)
    plain = service_for(tiny_model, 0)
    try:
        cursor = DOCUMENT.index("def f100")
        text = DOCUMENT[:cursor] + "y = \n" + DOCUMENT[cursor:]
        request = CompletionRequest(text, cursor + len("y = "), "a.py", key="a.py")
        first = quick.complete(request)
        full = quick.plan(request)
        assert first.plan.quick and first.result is not None
        assert first.result.prompt_tokens < len(full.prompt.ids) // 4  # type: ignore[union-attr]
        assert quick.background is not None
        warmed = quick.background.result(timeout=120)  # the full prompt, prefilled
        assert warmed.stop_reason == "warm" and warmed.prompt_tokens == len(full.prompt.ids)  # type: ignore[union-attr]
        # The next keystroke finds the full prompt ready: no quick start, ~nothing to prefill.
        typed = text[: request.offset] + "f" + text[request.offset :]
        second = quick.complete(CompletionRequest(typed, request.offset + 1, "a.py", key="a.py"))
        assert not second.plan.quick and second.result is not None
        assert second.result.evaluated_tokens <= 4
        reference = plain.complete(CompletionRequest(typed, request.offset + 1, "a.py", key="b"))
        assert not reference.plan.quick and reference.result is not None
        assert second.result.tokens == reference.result.tokens
    finally:
        quick.engine.close()
        plain.engine.close()


def test_requests_without_a_document_key_get_the_full_prompt(tiny_model: Path) -> None:
    service = service_for(tiny_model, 256)
    try:
        cursor = DOCUMENT.index("\n\ndef f100")  # the end of a line
        completion = service.complete(CompletionRequest(DOCUMENT, cursor, "a.py"))
        assert not completion.plan.quick and service.background is None
        assert completion.result is not None
        assert completion.result.prompt_tokens == len(
            service.plan(CompletionRequest(DOCUMENT, cursor, "a.py")).prompt.ids
        )  # type: ignore[union-attr]
    finally:
        service.engine.close()


def test_the_suggestion_after_acceptance_is_ready_when_tab_is_pressed(smollm: Path) -> None:
    import threading

    import pytest

    from cl_lsp.core.suggestion import Suggestion
    from cl_lsp.engine.base import Cancelled, GenerationRequest

    def service(cache: bool) -> CompletionService:
        created = service_for(smollm, 0)
        created.settings.completion.cache = cache
        created.settings.completion.max_prefix_lines = 40
        return created

    ahead, reference = service(True), service(False)
    head = DOCUMENT[: DOCUMENT.index("def f30")] + "total = f1(2) + f2("
    document = head + "\n\n" + DOCUMENT[len(head) - len("total = f1(2) + f2(") :]
    try:
        cursor = len(head)
        request = CompletionRequest(document, cursor, "a.py", key="a.py")
        shown = ahead.complete(request)
        assert shown.text  # real text to accept
        suggestion = Suggestion(shown.text, shown.replace_suffix_chars)
        future = ahead.prefetch_next(request, suggestion)
        assert future is not None
        future.result(timeout=120)
        assert ahead.engine.stats.prefetches == 1
        # Tab: the document now holds the suggestion; the next request is a cache hit
        # with what the model says there.
        end = cursor + shown.replace_suffix_chars
        accepted = document[:cursor] + shown.text + document[end:]
        after = CompletionRequest(accepted, cursor + len(shown.text), "a.py", key="a.py")
        recalled = ahead.recall(after, ahead.plan(after))
        assert recalled is not None
        expected = reference.complete(CompletionRequest(accepted, after.offset, "a.py", key="b"))
        assert recalled.text == expected.text
        # A keystroke (any real request) cancels a pending prefetch.
        gate = threading.Event()
        ids = ahead.plan(request).prompt.ids  # type: ignore[union-attr]
        blocker = GenerationRequest(
            ids=ids, max_tokens=2, should_stop=lambda _: gate.wait(10) and False
        )
        ahead.engine.submit(blocker)
        pending = ahead.prefetch_next(after, Suggestion("x = 1\n", 0))
        assert pending is not None
        real = ahead.start(request, ahead.plan(request))
        gate.set()
        with pytest.raises(Cancelled):
            pending.result(timeout=120)
        assert real is not None and real.result(timeout=120).tokens
    finally:
        ahead.engine.close()
        reference.engine.close()
