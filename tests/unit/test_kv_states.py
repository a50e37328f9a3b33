"""Per-document KV states: an LRU within a RAM budget, and switching files and back."""

from __future__ import annotations

from pathlib import Path

from cl_lsp.config import ModelSettings
from cl_lsp.engine.base import GenerationRequest, GenerationResult
from cl_lsp.engine.kv_states import SavedState, StateStore
from cl_lsp.engine.llama_engine import LlamaEngine
from cl_lsp.engine.loader import load_engine
from cl_lsp.testing.tiny_model import FIM_IDS


def state(tokens: list[int], size: int) -> SavedState:
    return SavedState(tokens, bytearray(size), size)


def test_store_finds_the_longest_shared_prefix() -> None:
    store = StateStore(1000)
    store.put("a", state([1, 2, 3, 4], 10))
    store.put("b", state([1, 2, 9], 10))
    assert store.best_match([1, 2, 3, 7]) == ("a", 3)
    assert store.best_match([1, 2, 9, 9]) == ("b", 3)
    assert store.best_match([5]) == (None, 0)


def test_store_evicts_least_recently_used_within_budget() -> None:
    store = StateStore(250)
    store.put("a", state([1], 100))
    store.put("b", state([2], 100))
    assert store.pop("a") is not None  # restored: a is in the cache now, not in the store
    store.put("a", state([1], 100))  # ... and saved again when left: most recent
    assert store.put("c", state([3], 100)) == ["b"]
    assert "a" in store and "c" in store and "b" not in store and store.used == 200
    assert store.put("d", state([4], 300)) == ["d"]  # bigger than the whole budget
    assert not store.fits(300) and store.fits(250)


def test_store_reuses_a_documents_old_buffer() -> None:
    store = StateStore(1000)
    old = state([1], 100)
    store.put("a", old)
    assert store.spare_buffer("a", 200) is None  # too small: keep the old state
    assert "a" in store
    assert store.spare_buffer("a", 80) is old.data and "a" not in store


PRE, SUF, MID, EOT = FIM_IDS["pre"], FIM_IDS["suf"], FIM_IDS["mid"], FIM_IDS["eot"]


def run(engine: LlamaEngine, ids: list[int], key: str) -> GenerationResult:
    request = GenerationRequest(ids=ids, max_tokens=4, stop_ids=frozenset({EOT}), key=key)
    return engine.submit(request).result(timeout=120)


def test_switching_between_three_files_and_back_restores_each(tiny_model: Path) -> None:
    """One saved state (the old design) re-prefills every file in an A, B, C, A, B, C
    round; per-document states restore each, with the answers of a fresh prefill."""
    engine = load_engine(ModelSettings(path=str(tiny_model), n_ctx=2048, n_batch=64))[0]
    fresh = load_engine(ModelSettings(path=str(tiny_model), n_ctx=2048, kv_reuse=False))[0]
    try:
        enc = engine.tokenize
        files = {
            name: [1, PRE] + enc(f"def {name}(x):\n    return x * {i}\n" * 30) + [SUF, MID]
            for i, name in enumerate(("alpha", "beta", "gamma"))
        }
        for name, ids in files.items():
            run(engine, ids, name)
        assert engine.stats.snapshot_saves == 2 and engine.stats.snapshot_restores == 0
        for name, ids in files.items():
            typed = ids[:-2] + enc("\nprint(") + [SUF, MID]
            result = run(engine, typed, name)
            assert result.reused_tokens >= len(ids) - 2
            assert result.tokens == run(fresh, typed, name).tokens
        assert engine.stats.snapshot_restores == 3
    finally:
        engine.close()
        fresh.close()


def test_a_budget_for_one_state_keeps_the_most_recent_only(tiny_model: Path) -> None:
    probe = load_engine(ModelSettings(path=str(tiny_model), n_ctx=2048))[0]
    try:
        enc = probe.tokenize
        files = [[1, PRE] + enc(f"x{i} = {i}\n" * 120) + [SUF, MID] for i in range(3)]
        run(probe, files[0], "probe")
        import llama_cpp

        one_state = int(llama_cpp.llama_state_seq_get_size(probe._llm.ctx, 0))
    finally:
        probe.close()
    engine = load_engine(ModelSettings(path=str(tiny_model), n_ctx=2048))[0]
    engine._states.budget = one_state + one_state // 2  # room for one state, not two
    try:
        for i, ids in enumerate(files):
            run(engine, ids, f"f{i}")
        # f0 was saved, then evicted by f1's state: going back to f0 re-prefills.
        assert run(engine, files[0], "f0").reused_tokens < 10
        assert run(engine, files[2], "f2").reused_tokens >= len(files[2]) - 1  # f2: restored
    finally:
        engine.close()
