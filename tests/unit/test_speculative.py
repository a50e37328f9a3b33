"""Prompt-lookup speculative decoding in the llama.cpp engine: the same greedy tokens in
fewer forward passes, a consistent KV cache after rejected drafts, and cancellation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cl_lsp.config import ModelSettings
from cl_lsp.engine.base import Cancelled, GenerationRequest, GenerationResult
from cl_lsp.engine.llama_engine import LlamaEngine
from cl_lsp.engine.loader import load_engine

# Real code with the repetition completions copy from: names, call patterns, lines.
SOURCE = Path(__file__).resolve().parents[2] / "cl_lsp" / "engine" / "job_queue.py"
CUTS = (
    "self._running.request.cancel.set()\n",
    "for job in self._pending:\n",
    "def _count_cancelled(self, job: _Job) -> None:\n",
    "        live: deque[_Job] = deque()\n",
)


def prompts(engine: LlamaEngine, head: list[int]) -> list[list[int]]:
    text = SOURCE.read_text()
    # The last 600 tokens: the tiny model's vocabulary spells most code byte by byte.
    return [head + engine.tokenize(text[: text.index(cut) + len(cut)])[-600:] for cut in CUTS]


def echo_prompts(engine: LlamaEngine) -> list[list[int]]:
    """Prompts that hold the model's own earlier answer (prompt, answer, prompt again):
    the tiny model's random weights copy nothing from code, but they do echo themselves,
    so its drafts are sometimes right and sometimes wrong."""
    echoed = []
    for ids in prompts(engine, [1]):
        ids = ids[-300:]
        answer = generate(engine, ids, speculative=False).tokens
        echoed.append(ids + answer + ids[1:])
    return echoed


def always_draft(engine: LlamaEngine) -> None:
    """Verify every draft the prompt offers, whatever this machine's pass costs say (the
    cost policy is tested on its own in test_draft.py)."""
    engine._policy.length = lambda available, key, base=1: available  # type: ignore[method-assign]


def generate(engine: LlamaEngine, ids: list[int], speculative: bool) -> GenerationResult:
    request = GenerationRequest(
        ids=ids, max_tokens=24, stop_ids=frozenset(), speculative=speculative
    )
    return engine.submit(request).result(timeout=120)


def passes_needed(result: GenerationResult) -> int:
    """One token at a time: the prefill's pass gives the first token, a pass over each
    token gives the next; the last token needs one only to choose a stop token after it."""
    return len(result.tokens) - 1 + (result.stop_reason == "stop_token")


def assert_cache_consistent(engine: LlamaEngine) -> None:
    """The KV cache holds exactly the engine's record of evaluated tokens."""
    import llama_cpp

    n = len(engine._evaluated)
    assert engine._llm.n_tokens == n
    assert list(engine._llm.input_ids[:n]) == engine._evaluated
    memory = llama_cpp.llama_get_memory(engine._llm.ctx)
    assert llama_cpp.llama_memory_seq_pos_max(memory, 0) == n - 1


@pytest.fixture(scope="module")
def tiny(tiny_model: Path) -> Iterator[LlamaEngine]:
    engine = load_engine(ModelSettings(path=str(tiny_model), n_ctx=2048, n_batch=64))[0]
    always_draft(engine)
    yield engine
    engine.close()


def test_tiny_model_same_tokens_in_fewer_passes(tiny: LlamaEngine) -> None:
    accepted = passes = needed = drafted = 0
    for ids in echo_prompts(tiny):
        plain = generate(tiny, ids, speculative=False)
        tiny._history.clear()  # drafts from the prompt only (the plain answer would be one)
        fast = generate(tiny, ids, speculative=True)
        assert fast.tokens == plain.tokens
        assert plain.decode_passes == passes_needed(plain) and plain.drafted == 0
        accepted += fast.accepted
        drafted += fast.drafted
        passes += fast.decode_passes
        needed += passes_needed(fast)
        assert_cache_consistent(tiny)
    assert 0 < accepted < drafted  # drafts really ran: some held, some were rejected
    assert passes + accepted == needed  # every token either cost a pass or was a draft


def test_asking_again_drafts_from_the_last_answer(tiny: LlamaEngine) -> None:
    """A keystroke that leaves the prompt as it was (typing inside a healed word, a typo
    and its backspace) regenerates the last answer: its first token comes from the kept
    logits of the prompt's last token, the rest is drafted from the last answer and
    verified in drafts of up to 16."""
    ids = prompts(tiny, [1])[0][-300:]
    tiny._history.clear()
    plain = generate(tiny, ids, speculative=False)
    again = generate(tiny, ids, speculative=True)
    assert again.tokens == plain.tokens
    assert again.evaluated_tokens == 0  # no pass over the prompt at all
    assert again.accepted == again.drafted >= 16
    assert again.decode_passes + again.accepted == passes_needed(plain)
    assert again.decode_passes <= 2 < plain.decode_passes
    assert_cache_consistent(tiny)
    # Without the kept logits (the cache moved on meanwhile), the prompt's last token is
    # evaluated again and the answer's first draft rides along with it.
    generate(tiny, ids[:-5], speculative=False)
    ridden = generate(tiny, ids, speculative=True)
    assert ridden.tokens == plain.tokens
    assert ridden.evaluated_tokens >= 1 and ridden.accepted == ridden.drafted >= 16
    assert ridden.decode_passes <= 1
    assert_cache_consistent(tiny)
    # A prompt the history does not know drafts nothing from it.
    tiny._history.clear()
    other = generate(tiny, ids[:-40], speculative=True)
    assert other.tokens == generate(tiny, ids[:-40], speculative=False).tokens


def test_a_healed_prompt_is_drafted_through_its_healing_tokens(tiny: LlamaEngine) -> None:
    """Typing inside a word leaves a healed prompt as it was, and the answer must spell
    the typed part first: the last answer's tokens are drafted through those constrained
    choices too, and the result is what no speculation gives."""
    ids = prompts(tiny, [1])[1][-300:]
    tiny._history.clear()
    first = generate(tiny, ids, speculative=False).tokens
    typed = tiny._piece(first[0])  # the user typed what the first token spells
    answers = []
    for speculative in (False, True):
        request = GenerationRequest(
            ids=ids, max_tokens=24, heal_prefix=typed, speculative=speculative
        )
        answers.append(tiny.submit(request).result(timeout=120))
    plain, fast = answers
    assert plain.healed and fast.healed
    assert fast.tokens == plain.tokens
    assert plain.tokens[: len(first)] == first  # (+1: the healing token is not counted)
    assert fast.accepted >= 16 and fast.decode_passes < plain.decode_passes
    assert_cache_consistent(tiny)


def test_a_draft_ends_where_it_cannot_spell_the_healed_text(tiny: LlamaEngine) -> None:
    """Typing inside a word what the last answer did not predict: its first token cannot
    spell the typed text, so drafting it would only waste a pass."""
    from cl_lsp.engine.draft import Answer, NgramDraft

    answer = [5000, 5001, 5002, 5003]
    drafts = NgramDraft([1, 7, 8, 9], history=[Answer([8, 9, *answer])])
    request = GenerationRequest(ids=[1, 7, 8, 9], max_tokens=24)
    assert tiny._draft(drafts, request, 0, 1, b"").tokens == answer
    first = tiny._piece(answer[0])
    # The typed text is what the first token spells, and more: the draft goes on.
    assert tiny._draft(drafts, request, 0, 1, first).tokens == answer
    # Typed text the first token does not spell: no draft at all.
    assert tiny._draft(drafts, request, 0, 1, b"\x00" + first).tokens == []
    # The first token spells part of it, the second not: the draft stops after one.
    assert tiny._draft(drafts, request, 0, 1, first + b"\x00").tokens == answer[:1]


def test_rejected_drafts_leave_the_cache_reusable(tiny: LlamaEngine, tiny_model: Path) -> None:
    """After a speculative answer (drafts kept, drafts removed), the next prompt reuses the
    cache and gets exactly what a fresh engine with no reuse gets."""
    fresh = load_engine(ModelSettings(path=str(tiny_model), n_ctx=2048, kv_reuse=False))[0]
    try:
        for ids in echo_prompts(tiny)[:2]:
            tiny._history.clear()
            first = generate(tiny, ids, speculative=True)
            assert first.drafted > first.accepted  # some draft was rejected and removed
            assert_cache_consistent(tiny)
            # Accept half the suggestion and type on: the cache holds prompt + generated.
            follow = ids + first.tokens[: len(first.tokens) // 2] + tiny.tokenize(" x")
            again = generate(tiny, follow, speculative=True)
            assert again.reused_tokens >= len(ids)
            assert again.tokens == generate(fresh, follow, speculative=False).tokens
    finally:
        fresh.close()


def test_speculation_is_cancellable_between_tokens(tiny: LlamaEngine) -> None:
    ids = echo_prompts(tiny)[1]
    seen: list[str] = []
    request = GenerationRequest(ids=ids, max_tokens=24, stop_ids=frozenset())

    def cancel_after_three(piece: str) -> bool:
        seen.append(piece)
        if len(seen) == 3:
            request.cancel.set()
        return False

    request.should_stop = cancel_after_three
    with pytest.raises(Cancelled):
        tiny.submit(request).result(timeout=120)
    assert len(seen) == 3
    assert_cache_consistent(tiny)
    assert generate(tiny, ids, speculative=True).tokens == generate(tiny, ids, False).tokens


def reference_decode(engine: LlamaEngine, ids: list[int], n: int) -> tuple[list[int], list[float]]:
    """Greedy decoding one token a pass, as the engine's non-speculative loop does, with
    each choice's margin over the runner-up logit."""
    engine._truncate(0)
    engine._llm.eval(ids)
    engine._evaluated.extend(ids)
    tokens: list[int] = []
    margins: list[float] = []
    for _ in range(n):
        logits = engine._logits()
        top2 = np.partition(logits, -2)[-2:]
        tokens.append(int(np.argmax(logits)))
        margins.append(float(top2[1] - top2[0]))
        engine._llm.eval([tokens[-1]])
        engine._evaluated.append(tokens[-1])
    return tokens, margins


def test_smollm_same_tokens_up_to_kernel_noise(smollm: Path) -> None:
    """SmolLM2 (Q4_1): llama.cpp's CPU kernels compute a multi-token pass differently from
    a one-token pass (logits differ by up to ~0.9 here; passes of 2..12 tokens agree
    exactly with each other), so a near-tie may resolve differently. Speculative output
    must equal plain greedy output, or part from it only at a choice closer than that."""
    engine = load_engine(ModelSettings(path=str(smollm), n_ctx=2048, n_batch=64))[0]
    always_draft(engine)
    noise = 2 * 0.9  # each of the two logits may move by the kernels' difference
    try:
        accepted = 0
        for ids in prompts(engine, []):
            plain = generate(engine, ids, speculative=False)
            engine._history.clear()  # the prompt's drafts, not the plain answer's
            fast = generate(engine, ids, speculative=True)
            accepted += fast.accepted
            tokens, margins = reference_decode(engine, ids, len(plain.tokens))
            # The engine sizes its prefill batches by measured speed, so even the plain
            # run's first token may come from a differently split pass than the reference.
            for run in (plain.tokens, fast.tokens):
                pairs = zip(run, tokens, strict=True)
                parted = next((i for i, (a, b) in enumerate(pairs) if a != b), None)
                if parted is not None:
                    assert margins[parted] < noise, (parted, margins[parted])
        assert accepted > 0  # the check covered real, accepted drafts
    finally:
        engine.close()


def test_smollm_with_flash_attention_gives_exactly_the_plain_tokens(smollm: Path) -> None:
    """With flash attention llama.cpp computes a position the same way in a one-token and
    a multi-token pass, so speculation changes nothing: every token is the plain one."""
    settings = ModelSettings(path=str(smollm), n_ctx=2048, n_batch=64, flash_attn=True)
    engine = load_engine(settings)[0]
    always_draft(engine)
    try:
        accepted = rejected = 0
        for ids in prompts(engine, []):
            plain = generate(engine, ids, speculative=False)
            engine._history.clear()  # the prompt's drafts, not the plain answer's
            fast = generate(engine, ids, speculative=True)
            assert fast.tokens == plain.tokens
            accepted += fast.accepted
            rejected += fast.drafted - fast.accepted
            assert_cache_consistent(engine)
        assert accepted > 0 and rejected > 0  # both kinds of verdict were exercised
    finally:
        engine.close()
