"""The llama.cpp engine on a generated tiny Code Llama: layouts, stops, reuse, cancellation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cl_lsp.config import ModelSettings
from cl_lsp.core.prompt import Layout, build_prompt, common_prefix_length
from cl_lsp.engine.base import Cancelled, EngineError, GenerationRequest
from cl_lsp.engine.llama_engine import LlamaEngine
from cl_lsp.engine.loader import load_engine, prompt_spec
from cl_lsp.testing.tiny_model import FIM_IDS

PRE, SUF, MID, EOT = FIM_IDS["pre"], FIM_IDS["suf"], FIM_IDS["mid"], FIM_IDS["eot"]
BOS = 1


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> Iterator[LlamaEngine]:
    loaded, _info = load_engine(ModelSettings(path=str(tiny_model), n_ctx=2048, n_batch=32))
    yield loaded
    loaded.close()


def run(engine: LlamaEngine, ids: list[int], **kwargs: object) -> object:
    return engine.submit(GenerationRequest(ids=ids, **kwargs)).result(timeout=60)  # type: ignore[arg-type]


def test_metadata_drives_the_prompt_spec(engine: LlamaEngine, tiny_model: Path) -> None:
    spec = engine.spec
    assert spec.fim is not None and spec.fim.family == "codellama"
    assert (spec.fim.prefix, spec.fim.suffix, spec.fim.middle) == (PRE, SUF, MID)
    assert spec.bos == BOS and spec.sentencepiece_space
    assert EOT in engine.stop_ids  # found by token text: llama_vocab_eot reports -1 here


def test_psm_and_spm_token_sequences(engine: LlamaEngine) -> None:
    prefix, suffix = "def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n"
    enc = engine.tokenize
    # enc_infill: the suffix without SentencePiece's leading "▁".
    suffix_ids = enc("\n" + suffix)[len(enc("\n")) :]
    assert engine.detokenize(suffix_ids) == suffix
    psm = build_prompt(engine.spec, enc, prefix, suffix, Layout.PSM)
    assert psm.ids == [BOS, PRE] + enc(prefix) + [SUF] + suffix_ids + [MID]
    spm = build_prompt(engine.spec, enc, prefix, suffix, Layout.SPM)
    assert spm.ids == [BOS, PRE, SUF] + suffix_ids + [MID] + enc(prefix)
    # Source text that looks like a special token is encoded as text.
    tricky = build_prompt(engine.spec, enc, "x = '<PRE> <EOT>'", "", Layout.PSM)
    assert tricky.ids.count(PRE) == 1 and EOT not in tricky.ids


def test_max_tokens_stop(engine: LlamaEngine) -> None:
    ids = build_prompt(engine.spec, engine.tokenize, "x = ", "\n", Layout.SPM).ids
    result = run(engine, ids, max_tokens=3, stop_ids=frozenset())
    assert len(result.tokens) == 3 and result.stop_reason == "max_tokens"  # type: ignore[attr-defined]


def test_stop_token_ends_generation(engine: LlamaEngine) -> None:
    ids = build_prompt(engine.spec, engine.tokenize, "x = ", "\n", Layout.SPM).ids
    first = run(engine, ids, max_tokens=8, stop_ids=frozenset()).tokens  # type: ignore[attr-defined]
    # Greedy decoding is deterministic: make the model's next new choice a stop token.
    k = next(i for i, token in enumerate(first) if token != first[0])
    result = run(engine, ids, max_tokens=8, stop_ids=frozenset({first[k]}))
    assert result.tokens == first[:k] and result.stop_reason == "stop_token"  # type: ignore[attr-defined]


def test_kv_prefix_is_reused(engine: LlamaEngine) -> None:
    enc = engine.tokenize
    first = build_prompt(engine.spec, enc, "def f(x):\n    return x", "\n", Layout.SPM).ids
    second = build_prompt(engine.spec, enc, "def f(x):\n    return x +", "\n", Layout.SPM).ids
    run(engine, first, max_tokens=2)
    result = run(engine, second, max_tokens=2)
    common = common_prefix_length(first, second)
    assert common == len(first)  # SPM: typing at the cursor only appends tokens
    assert result.reused_tokens == common  # type: ignore[attr-defined]
    assert result.evaluated_tokens == len(second) - common  # type: ignore[attr-defined]


def test_cancel_mid_generation(engine: LlamaEngine) -> None:
    ids = build_prompt(engine.spec, engine.tokenize, "y = ", "\n", Layout.SPM).ids
    request = GenerationRequest(ids=ids, max_tokens=50, stop_ids=frozenset())
    seen: list[str] = []

    def cancel_after_two(text: str) -> bool:
        seen.append(text)
        if len(seen) == 2:
            request.cancel.set()  # as a $/cancelRequest would, between two tokens
        return False

    request.should_stop = cancel_after_two
    with pytest.raises(Cancelled):
        engine.submit(request).result(timeout=60)
    assert len(seen) == 2
    # The engine keeps serving after a cancellation.
    assert run(engine, ids, max_tokens=2).tokens  # type: ignore[attr-defined]


def test_cancel_before_start_and_supersede(engine: LlamaEngine) -> None:
    ids = build_prompt(engine.spec, engine.tokenize, "z = ", "\n", Layout.SPM).ids
    gate = threading.Event()
    blocker = GenerationRequest(
        ids=ids, max_tokens=2, should_stop=lambda _t: gate.wait(10) and False
    )
    engine.submit(blocker)  # keeps the worker busy until the gate opens
    older = engine.submit(GenerationRequest(ids=ids, max_tokens=2, key="doc"))
    newer = engine.submit(GenerationRequest(ids=ids, max_tokens=2, key="doc"))
    gate.set()
    with pytest.raises(Cancelled):
        older.result(timeout=60)
    assert newer.result(timeout=60).tokens


def test_prompt_longer_than_context_is_an_error(engine: LlamaEngine) -> None:
    with pytest.raises(EngineError):
        run(engine, [BOS] * 5000, max_tokens=4)


def test_model_without_fim_is_prefix_only(tiny_model_no_fim: Path) -> None:
    from cl_lsp.engine.loader import inspect_model

    spec = prompt_spec(inspect_model(tiny_model_no_fim))
    assert spec.fim is None


def test_missing_and_corrupt_models_raise_clear_errors(tmp_path: Path, tiny_model: Path) -> None:
    cases = {
        "missing": None,
        "empty": b"",
        "truncated": tiny_model.read_bytes()[:1000],
        "not-gguf": b"\x7fELF" + b"\0" * 100,
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.gguf"
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(EngineError) as caught:
            load_engine(ModelSettings(path=str(path)))
        assert str(path) in caught.value.message and caught.value.fix


def test_token_healing_backs_off_and_respells(engine: LlamaEngine) -> None:
    from cl_lsp.core.healing import BackOff, back_off

    enc = engine.tokenize
    prompt = build_prompt(engine.spec, enc, "x = self.valu", "\n", Layout.SPM)
    table = engine.piece_table
    assert [table.piece(i) for i in enc("x = self.valu")] == [b" x", b" =", b" self.", b"valu"]
    backed = back_off(prompt.ids, table, keep=prompt.stable_head + 1)
    assert backed == BackOff(1, b"valu")
    allowed = {table.piece(i) for i in table.allowed(b"valu")}
    assert allowed == {b"v", b"va", b"val", b"valu", b"value", b"values"}
    ids = prompt.ids[:-1]
    result = run(engine, ids, max_tokens=3, heal_prefix=b"valu")
    first = result.tokens[0]  # type: ignore[attr-defined]
    assert table.piece(first) in (b"value", b"values", b"valu")
    assert result.healed  # type: ignore[attr-defined]
    spelled = b"".join(table.piece(t) for t in result.tokens)  # type: ignore[attr-defined]
    assert spelled.startswith(b"valu")
    # The result's text is what comes after the cursor: the healed "valu" is not repeated.
    assert result.text == spelled[len(b"valu") :].decode("utf-8", "replace")  # type: ignore[attr-defined]
    assert len(result.tokens) - 1 <= 3  # type: ignore[attr-defined]


def test_the_same_prompt_again_needs_no_pass(engine: LlamaEngine, tiny_model: Path) -> None:
    """A keystroke inside a word leaves the healed prompt as it was: the logits of its
    last token are kept from the previous request, so the first choice costs no forward
    pass, and the answer is what an engine that keeps nothing gives."""
    fresh = load_engine(ModelSettings(path=str(tiny_model), n_ctx=2048, kv_reuse=False))[0]
    enc = engine.tokenize
    try:
        ids = build_prompt(engine.spec, enc, "def g(y):\n    return y", "\n", Layout.SPM).ids
        reference = run(fresh, ids, max_tokens=6, stop_ids=frozenset()).tokens  # type: ignore[attr-defined]
        first = run(engine, ids, max_tokens=6, stop_ids=frozenset())
        again = run(engine, ids, max_tokens=6, stop_ids=frozenset())
        assert first.evaluated_tokens >= 1 and again.evaluated_tokens == 0  # type: ignore[attr-defined]
        assert first.tokens == again.tokens == reference  # type: ignore[attr-defined]
        # The kept logits are the prompt's last token's: a constrained first choice (the
        # typed part of a healed word) is made from them too.
        piece = engine._piece(reference[0])
        healed = run(engine, ids, max_tokens=6, heal_prefix=piece, stop_ids=frozenset())
        assert healed.evaluated_tokens == 0 and healed.tokens[0] == reference[0]  # type: ignore[attr-defined]
        # A shorter prompt ends elsewhere: its last token is evaluated as usual ...
        shorter = run(engine, ids[:-1], max_tokens=6, stop_ids=frozenset())
        assert shorter.evaluated_tokens == 1  # type: ignore[attr-defined]
        assert shorter.tokens == run(fresh, ids[:-1], max_tokens=6, stop_ids=frozenset()).tokens  # type: ignore[attr-defined]
        # ... and the longer one's kept logits went with the KV entries it dropped.
        longer = run(engine, ids, max_tokens=6, stop_ids=frozenset())
        assert longer.evaluated_tokens == 1 and longer.tokens == reference  # type: ignore[attr-defined]
    finally:
        fresh.close()


def test_warm_up_prefills_only_and_any_request_cancels_it(engine: LlamaEngine) -> None:
    enc = engine.tokenize
    ids = build_prompt(engine.spec, enc, "def warm(x):\n    return x", "\n", Layout.SPM).ids
    warm = run(engine, ids, max_tokens=0, warm=True)
    assert warm.stop_reason == "warm" and warm.tokens == []  # type: ignore[attr-defined]
    real = run(engine, ids, max_tokens=2)
    # The warm-up's last pass gave the prompt's last logits: the first choice needs none.
    assert real.reused_tokens == len(ids)  # type: ignore[attr-defined]
    # A pending warm-up is cancelled by a real request (of any key).
    gate = threading.Event()
    blocker = GenerationRequest(
        ids=ids, max_tokens=2, should_stop=lambda _t: gate.wait(10) and False
    )
    engine.submit(blocker)
    pending_warm = engine.submit(GenerationRequest(ids=ids, max_tokens=0, warm=True))
    wanted = engine.submit(GenerationRequest(ids=ids, max_tokens=2, key="other"))
    gate.set()
    with pytest.raises(Cancelled):
        pending_warm.result(timeout=60)
    assert wanted.result(timeout=60).tokens


def test_a_future_cancelled_by_its_owner_does_not_kill_the_worker(engine: LlamaEngine) -> None:
    ids = build_prompt(engine.spec, engine.tokenize, "q = ", "\n", Layout.SPM).ids
    gate = threading.Event()
    blocker = GenerationRequest(
        ids=ids, max_tokens=2, should_stop=lambda _t: gate.wait(10) and False
    )
    engine.submit(blocker)
    abandoned = engine.submit(GenerationRequest(ids=ids, max_tokens=2, key="doc"))
    assert abandoned.cancel()  # as asyncio.wrap_future does when the task is cancelled
    newer = engine.submit(GenerationRequest(ids=ids, max_tokens=2, key="doc"))
    gate.set()
    assert newer.result(timeout=60).tokens


def test_the_worker_survives_a_queue_of_cancelled_jobs(engine: LlamaEngine) -> None:
    ids = build_prompt(engine.spec, engine.tokenize, "w = ", "\n", Layout.SPM).ids
    gate = threading.Event()
    blocker = engine.submit(
        GenerationRequest(ids=ids, max_tokens=2, should_stop=lambda _t: gate.wait(10) and False)
    )
    lonely = engine.submit(GenerationRequest(ids=ids, max_tokens=2))
    assert lonely.cancel()  # the only queued job, cancelled before the worker reaches it
    gate.set()
    blocker.result(timeout=60)
    assert run(engine, ids, max_tokens=2).tokens  # type: ignore[attr-defined]


def test_service_heals_and_keeps_context_sticky(
    engine: LlamaEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cl_lsp import service as service_module
    from cl_lsp.config import Settings
    from cl_lsp.core.retrieval import ContextWindow
    from cl_lsp.service import CompletionRequest, CompletionService

    built: list[int] = []

    def fake_context(request: object, index: object, count: object) -> ContextWindow:
        built.append(request.offset)  # type: ignore[attr-defined]
        return ContextWindow((), f"# context {len(built)}\n", 4, 64)

    monkeypatch.setattr(service_module, "build_context", fake_context)
    settings = Settings()
    settings.context.sticky_lines = 3
    service = CompletionService(engine, settings, index=object())  # type: ignore[arg-type]
    text = "".join(f"x{i} = {i}\n" for i in range(20)) + "y = self.valu\n"
    cursor = text.index("self.valu") + len("self.valu")

    def plan_at(offset: int) -> object:
        return service.plan(CompletionRequest(text, offset, "a.py", key="doc"))

    first = plan_at(cursor)
    assert first.heal == b"valu"  # type: ignore[attr-defined]
    assert first.prompt.ids[-1] == engine.tokenize(" self.")[-1]  # type: ignore[attr-defined]
    again = plan_at(cursor)  # the same place: the same context, not rebuilt
    assert again.context is first.context and len(built) == 1  # type: ignore[attr-defined]
    near = plan_at(text.index("\nx19"))  # the end of a line 2 lines up: still sticky
    assert near.context is first.context and len(built) == 1  # type: ignore[attr-defined]
    far = plan_at(text.index("\nx3 "))  # far away: rebuilt
    assert far.context is not first.context and len(built) == 2  # type: ignore[attr-defined]
    # Another document never sees this one's context.
    service.plan(CompletionRequest(text, cursor, "b.py", key="other"))
    assert len(built) == 3


def test_kv_snapshot_brings_back_the_place_the_user_left(tiny_model: Path) -> None:
    """Typing elsewhere (a long, different prompt) and coming back restores the saved KV
    state instead of prefilling again, and the answer is the one a fresh prefill gives."""
    settings = ModelSettings(path=str(tiny_model), n_ctx=2048, n_batch=64)
    here = load_engine(settings)[0]
    fresh = load_engine(ModelSettings(path=str(tiny_model), n_ctx=2048, kv_reuse=False))[0]
    try:
        enc = here.tokenize
        home = [BOS, PRE] + enc("def home(x):\n    return x * 2\n" * 40) + [SUF, MID]
        away = [BOS, PRE] + enc("class Away:\n    value = 'elsewhere'\n" * 40) + [SUF, MID]
        back = home[:-2] + enc("\nprint(") + [SUF, MID]
        stops = frozenset({EOT})
        run(here, home, max_tokens=4, stop_ids=stops)
        run(here, away, max_tokens=4, stop_ids=stops)  # throws away `home`: saved first
        assert here.stats.snapshot_saves == 1
        result = run(here, back, max_tokens=8, stop_ids=stops)
        assert here.stats.snapshot_restores == 1
        shared = common_prefix_length(home, back)
        assert result.reused_tokens >= shared  # type: ignore[attr-defined]
        expected = run(fresh, back, max_tokens=8, stop_ids=stops)
        assert result.tokens == expected.tokens  # type: ignore[attr-defined]
        # ... and `away` was swapped into the snapshot: going there again is cheap too.
        again = run(here, away + enc("x"), max_tokens=2, stop_ids=stops)
        assert again.reused_tokens >= len(away) - 1  # type: ignore[attr-defined]
        assert here.stats.snapshot_restores == 2
    finally:
        here.close()
        fresh.close()


def test_prefix_only_model_at_the_start_of_a_file_is_no_request(smollm: Path) -> None:
    """SmolLM2 adds no BOS, so an empty prefix is an empty prompt: no suggestion, no error
    (found by benchmarks/holes.py cutting a hole at offset 0)."""
    from cl_lsp.config import Settings
    from cl_lsp.service import CompletionRequest, CompletionService

    settings = Settings(model=ModelSettings(path=str(smollm), n_ctx=512))
    engine = load_engine(settings.model)[0]
    try:
        service = CompletionService(engine, settings, None)
        completion = service.complete(CompletionRequest("\nprint('hi')\n", 0, "a.py"))
        assert completion.text == "" and completion.result is None
        assert engine.stats.requests == 0
    finally:
        engine.close()
