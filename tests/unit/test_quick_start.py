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
