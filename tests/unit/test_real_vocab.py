"""Prompts, healing, line encoding and stops on llama.cpp's REAL vocabularies.

Code Llama's vocabulary is Llama 2's SentencePiece one (ggml-vocab-llama-spm.gguf)
extended to 32,016 ids with the FIM tokens at 32007-32010; the model around it has
random weights (cl_lsp/testing/real_vocab.py). The other families' vocabularies are
read as llama.cpp ships them. Vocabularies come from packaging/fetch-vocabs.sh.
"""

from __future__ import annotations

import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cl_lsp.config import ModelSettings
from cl_lsp.core.healing import back_off
from cl_lsp.core.line_encoder import LineEncoder
from cl_lsp.core.prompt import Layout, build_prompt, choose_layout, encode_infill
from cl_lsp.engine.base import GenerationRequest
from cl_lsp.engine.gguf_info import read_model_info
from cl_lsp.engine.llama_engine import LlamaEngine
from cl_lsp.engine.loader import load_engine, prompt_spec
from cl_lsp.testing.real_vocab import (
    CODELLAMA,
    cached_vocab_model,
    missing_reason,
    read_tokenizer,
    vocab_path,
)
from tests.conftest import MODEL_CACHE

llama_cpp = pytest.importorskip("llama_cpp")

needs_spm = pytest.mark.skipif(vocab_path("llama-spm") is None, reason=missing_reason("llama-spm"))
PRE, SUF, MID, EOT, BOS = 32007, 32008, 32009, 32010, 1


@pytest.fixture(scope="module")
def engine() -> Iterator[LlamaEngine]:
    if vocab_path("llama-spm") is None:
        pytest.skip(missing_reason("llama-spm"))
    path = cached_vocab_model(MODEL_CACHE, CODELLAMA)
    loaded, _info = load_engine(ModelSettings(path=str(path), n_ctx=1024))
    yield loaded
    loaded.close()


def texts(engine: LlamaEngine, ids: list[int]) -> list[str]:
    return [engine._llm._model.token_get_text(i) for i in ids]


# ------------------------------------------------------------------- the vocabulary


@needs_spm
def test_codellama_vocabulary_is_llama2_plus_fim_tokens() -> None:
    spm = read_tokenizer(vocab_path("llama-spm"))  # type: ignore[arg-type]
    tokens = spm.tokens
    assert len(tokens) == 32000
    path = cached_vocab_model(MODEL_CACHE, CODELLAMA)
    info = read_model_info(path)
    assert info.vocab_size == 32016
    assert info.fim_family == "codellama"
    assert (info.fim.pre, info.fim.suf, info.fim.mid, info.eot_id) == (PRE, SUF, MID, EOT)
    built = read_tokenizer(path).tokens
    assert built[:32000] == tokens  # Llama 2's ids unchanged
    assert built[PRE : EOT + 1] == ["▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"]


def test_llama_cpp_finds_pre_suf_mid_but_no_eot(engine: LlamaEngine) -> None:
    vocab = llama_cpp.llama_model_get_vocab(engine._llm.model)
    assert llama_cpp.llama_vocab_fim_pre(vocab) == PRE
    assert llama_cpp.llama_vocab_fim_suf(vocab) == SUF
    assert llama_cpp.llama_vocab_fim_mid(vocab) == MID
    assert llama_cpp.llama_vocab_eot(vocab) == -1
    assert not llama_cpp.llama_vocab_is_eog(vocab, EOT)
    assert EOT in engine.stop_ids  # found by text: we stop on it ourselves


def test_real_tokenization_of_code(engine: LlamaEngine) -> None:
    ids = engine.tokenize("def foo(x):\n    return x")
    assert texts(engine, ids) == ["▁def", "▁foo", "(", "x", "):", "<0x0A>", "▁▁▁", "▁return", "▁x"]


# ------------------------------------------------------------------- PSM / SPM


PREFIX = "def foo(x):\n    return "
SUFFIX = "\n\nprint(foo(1))"


def test_psm_sequence(engine: LlamaEngine) -> None:
    prompt = build_prompt(engine.spec, engine.tokenize, PREFIX, SUFFIX, Layout.PSM)
    assert prompt.ids[:2] == [BOS, PRE] and prompt.ids[-1] == MID
    assert texts(engine, prompt.ids[2:]) == [
        "▁def", "▁foo", "(", "x", "):", "<0x0A>", "▁▁▁", "▁return", "▁",
        "▁<SUF>", "<0x0A>", "<0x0A>", "print", "(", "foo", "(", "1", "))",
        "▁<MID>",
    ]  # fmt: skip
    assert prompt.stable_head == 2


def test_spm_sequence_keeps_the_suffix_ahead_of_the_prefix(engine: LlamaEngine) -> None:
    prompt = build_prompt(engine.spec, engine.tokenize, PREFIX, SUFFIX, Layout.SPM)
    assert prompt.ids[:3] == [BOS, PRE, SUF]
    assert texts(engine, prompt.ids[3:]) == [
        "<0x0A>", "<0x0A>", "print", "(", "foo", "(", "1", "))", "▁<MID>",
        "▁def", "▁foo", "(", "x", "):", "<0x0A>", "▁▁▁", "▁return", "▁",
    ]  # fmt: skip
    assert prompt.ids[prompt.stable_head - 1] == MID
    typed = build_prompt(engine.spec, engine.tokenize, PREFIX + "x", SUFFIX, Layout.SPM)
    assert typed.ids[: prompt.stable_head] == prompt.ids[: prompt.stable_head]


def test_auto_layout_for_codellama_is_spm(engine: LlamaEngine) -> None:
    assert choose_layout(engine.spec) is Layout.SPM


def test_fim_texts_in_the_source_stay_ordinary_text(engine: LlamaEngine) -> None:
    ids = engine.tokenize("s = ' <PRE> <SUF> <MID> <EOT>'")
    assert not {PRE, SUF, MID, EOT} & set(ids)


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        ("    return x", ["▁▁▁", "▁return", "▁x"]),  # four spaces, none invented
        ("x)", ["x", ")"]),  # glued to the hole: no "▁x"
        (" x", ["▁x"]),  # one real space
        ("\n", ["<0x0A>"]),
        ("  # c", ["▁", "▁#", "▁c"]),
    ],
)
def test_infill_segments_have_no_dummy_space(
    engine: LlamaEngine, suffix: str, expected: list[str]
) -> None:
    assert texts(engine, encode_infill(engine.tokenize, suffix, True)) == expected


def _reference_infill(engine: LlamaEngine, text: str) -> list[int]:
    """Code Llama's reference: encode "☺" + text and drop the dummy space and "☺"."""
    ids = engine.tokenize("☺" + text)
    assert texts(engine, ids[:2]) == ["▁", "☺"]
    return ids[2:]


REAL_LINES = [
    line
    for line in (Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py")
    .read_text(encoding="utf-8")
    .split("\n")
    if line.strip()
]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(REAL_LINES) - 4), st.integers(0, 40), st.integers(1, 4))
def test_infill_matches_the_reference_implementation(
    engine: LlamaEngine, start: int, cut: int, count: int
) -> None:
    text = "\n".join(REAL_LINES[start : start + count])[cut:]
    if not text:
        return
    assert encode_infill(engine.tokenize, text, True) == _reference_infill(engine, text)


# ------------------------------------------------------------------- LineEncoder


def test_line_encoder_splits_on_the_real_vocabulary(engine: LlamaEngine) -> None:
    assert LineEncoder(engine.tokenize, engine.spec.sentencepiece_space).splits


REAL_CODE = "\n".join(
    (Path(sysconfig.get_paths()["stdlib"]) / name).read_text(encoding="utf-8")[:6000]
    for name in ("textwrap.py", "json/encoder.py", "shlex.py")
)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, len(REAL_CODE)), st.integers(1, 30))
def test_line_encoder_equals_whole_text_encoding_on_real_code(
    engine: LlamaEngine, cut: int, typed: int
) -> None:
    """The assumption behind encoding only the cursor line: on this vocabulary no token
    spans a newline, so keeping the ids above the line changes nothing."""
    encoder = LineEncoder(engine.tokenize, True)
    start = max(0, cut - 2000)
    for end in (cut, min(len(REAL_CODE), cut + typed)):  # then a few characters typed
        text = REAL_CODE[start:end]
        assert encoder(text) == engine.tokenize(text)


# ------------------------------------------------------------------- token healing


@pytest.mark.parametrize(
    ("prefix", "healed"),
    [("x = self.va", b"va"), ("    return sel", b" sel"), ("foo(x", b"x")],
)
def test_back_off_the_partial_word(engine: LlamaEngine, prefix: str, healed: bytes) -> None:
    ids = engine.tokenize(prefix)
    decision = back_off(ids, engine.piece_table, keep=1)
    assert decision.text == healed
    spelled = b"".join(engine.piece_table.piece(i) for i in ids[-decision.tokens :])
    assert spelled == healed


def test_no_back_off_after_a_complete_token(engine: LlamaEngine) -> None:
    ids = engine.tokenize("x = 1\n")
    assert back_off(ids, engine.piece_table, keep=1).tokens == 0


def test_healed_generation_spells_the_removed_text(engine: LlamaEngine) -> None:
    prompt = build_prompt(engine.spec, engine.tokenize, "x = self.va", "\n", Layout.SPM)
    decision = back_off(prompt.ids, engine.piece_table, keep=prompt.stable_head + 1)
    assert decision.tokens == 1
    request = GenerationRequest(
        ids=prompt.ids[: -decision.tokens], max_tokens=4, heal_prefix=decision.text
    )
    result = engine.submit(request).result(timeout=120)
    pieces = b"".join(engine.piece_table.piece(t) for t in result.tokens)
    assert result.healed and result.stop_reason == "max_tokens"
    assert pieces.startswith(decision.text)  # the model re-wrote "va..." itself
    assert pieces[len(decision.text) :].decode("utf-8", "replace") == result.text


# ------------------------------------------------------------------- stops


def test_generation_stops_at_eot_although_llama_cpp_would_not(tmp_path: Path) -> None:
    if vocab_path("llama-spm") is None:
        pytest.skip(missing_reason("llama-spm"))
    path = cached_vocab_model(MODEL_CACHE, CODELLAMA, favor_token=EOT)
    loaded, _info = load_engine(ModelSettings(path=str(path), n_ctx=256))
    try:
        ids = build_prompt(loaded.spec, loaded.tokenize, "def f(", "):\n", Layout.SPM).ids
        # The model really predicts ▁<EOT> (llama.cpp's own logits say so) ...
        llm: Any = llama_cpp.Llama(str(path), n_ctx=256, logits_all=True, verbose=False)
        llm.eval(ids)
        assert int(llm.scores[llm.n_tokens - 1].argmax()) == EOT
        llm.close()
        # ... and the engine stops there, emitting nothing.
        result = loaded.submit(GenerationRequest(ids=ids, max_tokens=8)).result(timeout=120)
        assert (result.stop_reason, result.tokens, result.text) == ("stop_token", [], "")
    finally:
        loaded.close()


# ------------------------------------------------------------------- other families

# (vocabulary, FIM family cl-lsp detects, layout it picks, FIM texts or None)
FAMILIES = [
    ("starcoder", "starcoder", Layout.SPM, ("<fim_prefix>", "<fim_suffix>", "<fim_middle>")),
    ("refact", "starcoder", Layout.SPM, ("<fim_prefix>", "<fim_suffix>", "<fim_middle>")),
    (
        "deepseek-coder",
        "deepseek",
        Layout.PSM,
        ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
    ),
    ("qwen2", None, Layout.PREFIX, None),  # Qwen1.5/2 base vocab: no FIM tokens
    ("llama-bpe", None, Layout.PREFIX, None),  # Llama 3
    ("phi-3", None, Layout.PREFIX, None),
]


@pytest.mark.parametrize(("name", "family", "layout", "fim_texts"), FAMILIES)
def test_family_and_layout_on_real_vocabularies(
    name: str, family: str | None, layout: Layout, fim_texts: tuple[str, str, str] | None
) -> None:
    path = vocab_path(name)
    if path is None:
        pytest.skip(missing_reason(name))
    info = read_model_info(path, validate_tensors=False)
    assert info.fim_family == family
    spec = prompt_spec(info)
    assert choose_layout(spec) is layout
    llm = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)

    def encode(text: str) -> list[int]:
        return list(llm.tokenize(text.encode(), add_bos=False, special=False))

    def text_of(i: int) -> str:
        return str(llm._model.token_get_text(i))

    prefix, suffix = "def f(x):\n    return ", "\n<fim_prefix><|fim_prefix|>"
    prompt = build_prompt(spec, encode, prefix, suffix, layout)
    head = [spec.bos] if spec.bos is not None else []
    assert prompt.ids[: len(head)] == head
    body = prompt.ids[len(head) :]
    if fim_texts is None:
        assert body == encode(prefix)
        return
    assert spec.fim is not None and not spec.sentencepiece_space  # byte-level BPE
    pre, suf, mid = spec.fim.prefix, spec.fim.suffix, spec.fim.middle
    assert (text_of(pre), text_of(suf), text_of(mid)) == fim_texts
    # FIM-looking text in the document is encoded as the ordinary text it is.
    assert not {pre, suf, mid} & set(encode(suffix))
    if layout is Layout.SPM:
        assert body == [pre, suf] + encode(suffix) + [mid] + encode(prefix)
    else:
        assert body == [pre] + encode(prefix) + [suf] + encode(suffix) + [mid]
    assert info.eot_id is not None and info.eot_id in info.stop_ids


def test_a_tiny_model_on_a_bpe_vocabulary_loads_and_detects_fim() -> None:
    if vocab_path("starcoder") is None:
        pytest.skip(missing_reason("starcoder"))
    path = cached_vocab_model(MODEL_CACHE, "starcoder")
    llm = llama_cpp.Llama(str(path), n_ctx=128, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    fim = read_model_info(path).fim
    assert llama_cpp.llama_vocab_fim_pre(vocab) == fim.pre == 1
    assert llama_cpp.llama_vocab_fim_suf(vocab) == fim.suf == 3
    assert llama_cpp.llama_vocab_fim_mid(vocab) == fim.mid == 2
    ids = [fim.pre, *llm.tokenize(b"x = 1", add_bos=False, special=False), fim.suf, fim.mid]
    llm.eval(ids)
    assert llm.n_tokens == len(ids)
