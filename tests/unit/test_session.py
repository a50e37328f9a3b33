"""The model session: one bounded header read gives the engine's spec and the chat format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cl_lsp.actions_service import make_service
from cl_lsp.config import ModelSettings, Settings
from cl_lsp.engine import session as session_module
from cl_lsp.engine.chat_format import ChatFormat
from cl_lsp.engine.gguf_info import read_model_info
from cl_lsp.engine.loader import load_session
from cl_lsp.engine.session import ModelSession, as_session, prompt_spec


def _reference_chat(path: Path) -> dict[str, Any]:
    """What gguf's own reader finds: the template, CONTROL tokens, BOS/EOS texts."""
    import gguf

    fields = gguf.GGUFReader(str(path)).fields

    def value(key: str) -> Any:
        field = fields.get(key)
        return field.contents() if field is not None else None

    tokens, types = value("tokenizer.ggml.tokens"), value("tokenizer.ggml.token_type")
    control = {t: i for i, (t, k) in enumerate(zip(tokens, types, strict=True)) if k == 3 and t}
    by_id = {v: k for k, v in control.items()}
    return {
        "template": value("tokenizer.chat_template"),
        "control": control,
        "bos": by_id.get(value("tokenizer.ggml.bos_token_id"), ""),
        "eos": by_id.get(value("tokenizer.ggml.eos_token_id"), ""),
    }


def test_chat_format_from_the_header_read_matches_gguf_reader(smollm: Path) -> None:
    chat = ChatFormat.from_info(read_model_info(smollm))
    reference = _reference_chat(smollm)
    assert chat is not None and reference["template"]
    assert chat.control == reference["control"] and chat.control
    assert (chat.bos, chat.eos) == (reference["bos"], reference["eos"])
    messages = [{"role": "user", "content": "Say hi."}]
    assert reference["control"]["<|im_start|>"] in chat.encode(chat.render(messages), lambda t: [])


def test_session_reads_the_model_file_once(
    smollm: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    reads: list[Path] = []
    plain = session_module.read_model_info
    monkeypatch.setattr(
        session_module, "read_model_info", lambda p: reads.append(Path(p)) or plain(p)
    )
    session = load_session(ModelSettings(path=str(smollm), n_ctx=512))
    try:
        assert reads == [smollm]
        assert session.info is not None and session.spec == prompt_spec(session.info)
        assert session.chat is not None  # SmolLM2-Instruct has a template and no FIM
        service = make_service(session.engine, Settings(), None, session.chat)
        assert service.mode == "chat" and reads == [smollm]
    finally:
        session.engine.close()


def test_an_infilling_model_keeps_fim_even_with_a_chat_format(tiny_model: Path) -> None:
    session = load_session(ModelSettings(path=str(tiny_model), n_ctx=512))
    try:
        assert session.chat is None  # the tiny Code Llama has no template
        chat = ChatFormat("{{ messages[0]['content'] }}", {})
        assert make_service(session.engine, Settings(), None, chat).mode == "fim"
    finally:
        session.engine.close()


def test_a_bare_engine_is_a_session_without_model_facts(tiny_model: Path) -> None:
    loaded = load_session(ModelSettings(path=str(tiny_model), n_ctx=512))
    try:
        bare = as_session(loaded.engine)
        assert bare.info is None and bare.chat is None and bare.spec == loaded.spec
        assert as_session(loaded) is loaded
        wrapped = loaded.with_engine(bare.engine)
        assert isinstance(wrapped, ModelSession) and wrapped.info is loaded.info
    finally:
        loaded.engine.close()
