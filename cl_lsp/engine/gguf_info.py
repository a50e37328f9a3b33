"""What a GGUF model file says about the model: architecture, tokenizer, FIM tokens and
family, stop tokens, chat template. The bytes are read by the bounded, defensive reader
in engine/gguf_header.py (model files are untrusted input); this module interprets them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cl_lsp.engine.gguf_header import Header, ModelFileError, read_header

__all__ = [
    "FIM_FAMILIES",
    "ModelFileError",
    "ModelInfo",
    "VocabFimTokens",
    "describe",
    "read_model_info",
]

# ---------------------------------------------------------------------------- FIM tables

FIM_FAMILIES = ("codellama", "starcoder", "qwen", "codegemma", "deepseek")


@dataclass(frozen=True)
class _FamilyTexts:
    pre: str
    suf: str
    mid: str
    eot: tuple[str, ...] = ()  # texts that end an infill, best first
    pad: str | None = None
    rep: str | None = None
    sep: str | None = None


# Several spellings per family; the first one found in the vocab wins.
_FAMILY_TEXTS: dict[str, tuple[_FamilyTexts, ...]] = {
    "codellama": (
        _FamilyTexts("▁<PRE>", "▁<SUF>", "▁<MID>", ("▁<EOT>",)),
        _FamilyTexts("<PRE>", "<SUF>", "<MID>", ("<EOT>",)),
    ),
    "starcoder": (
        _FamilyTexts(
            "<fim_prefix>",
            "<fim_suffix>",
            "<fim_middle>",
            ("<|endoftext|>",),
            pad="<fim_pad>",
            rep="<repo_name>",
            sep="<file_sep>",
        ),
    ),
    # Qwen2.5-Coder and CodeGemma share FIM texts; _classify tells them apart.
    "qwen": (
        _FamilyTexts(
            "<|fim_prefix|>",
            "<|fim_suffix|>",
            "<|fim_middle|>",
            ("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|im_end|>"),
            pad="<|fim_pad|>",
            rep="<|repo_name|>",
            sep="<|file_sep|>",
        ),
    ),
    "codegemma": (
        _FamilyTexts(
            "<|fim_prefix|>",
            "<|fim_suffix|>",
            "<|fim_middle|>",
            ("<|file_separator|>", "<end_of_turn>"),
            sep="<|file_separator|>",
        ),
    ),
    "deepseek": (
        _FamilyTexts(
            "<｜fim▁begin｜>",
            "<｜fim▁hole｜>",
            "<｜fim▁end｜>",
            ("<|EOT|>", "<｜end▁of▁sentence｜>"),
        ),
    ),
}

# End-of-generation texts worth stopping at whatever the family (chat/base models).
_GENERIC_STOP_TEXTS = (
    "<|endoftext|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|end|>",
    "<end_of_turn>",
    "<|EOT|>",
)

_INTERESTING_TEXTS = frozenset(
    {
        t
        for variants in _FAMILY_TEXTS.values()
        for v in variants
        for t in (v.pre, v.suf, v.mid, v.pad, v.rep, v.sep, *v.eot)
        if t
    }
    | set(_GENERIC_STOP_TEXTS)
)

# ---------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class VocabFimTokens:
    """The fill-in-the-middle token ids a vocabulary holds (None where it has no such
    token). Not core.prompt.FimTokens: that is what a prompt builder uses, and only
    exists for a model that can infill (engine/session.prompt_spec makes one of this)."""

    pre: int | None = None
    suf: int | None = None
    mid: int | None = None
    pad: int | None = None
    rep: int | None = None
    sep: int | None = None

    @property
    def complete(self) -> bool:
        """True when prefix, suffix and middle are all known: FIM prompts are possible."""
        return None not in (self.pre, self.suf, self.mid)


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    file_size: int
    version: int
    tensor_count: int
    architecture: str | None
    name: str | None
    file_type: int | None  # general.file_type (llama_ftype), e.g. 3 = Q4_1
    context_length: int | None
    rope_freq_base: float | None
    embedding_length: int | None
    block_count: int | None
    head_count: int | None
    vocab_size: int | None
    tokenizer_model: str | None  # "llama" (SentencePiece), "gpt2" (BPE), ...
    bos_id: int | None
    eos_id: int | None
    eot_id: int | None
    fim: VocabFimTokens
    fim_family: str | None  # one of FIM_FAMILIES, or None
    has_chat_template: bool
    add_bos: bool | None
    add_space_prefix: bool | None
    stop_ids: tuple[int, ...]  # EOT, EOS, file separators: stop generation at any of them
    tensor_types: dict[str, int] = field(default_factory=dict)  # ggml type name -> count
    metadata: dict[str, object] = field(default_factory=dict)  # scalar KVs (arrays left out)
    control_tokens: dict[str, int] = field(default_factory=dict)  # text -> id, CONTROL type
    warnings: tuple[str, ...] = ()

    @property
    def has_fim(self) -> bool:
        return self.fim.complete


# ---------------------------------------------------------------------------- interpretation


def _int(kv: dict[str, object], key: str) -> int | None:
    v = kv.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _float(kv: dict[str, object], key: str) -> float | None:
    v = kv.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _str(kv: dict[str, object], key: str) -> str | None:
    v = kv.get(key)
    return v if isinstance(v, str) else None


def _bool(kv: dict[str, object], key: str) -> bool | None:
    v = kv.get(key)
    return v if isinstance(v, bool) else None


def _token_index(tokens: Sequence[object]) -> dict[str, int]:
    """Ids of the special texts we care about (first occurrence wins)."""
    found: dict[str, int] = {}
    for i, t in enumerate(tokens):
        if t in _INTERESTING_TEXTS and isinstance(t, str) and t not in found:
            found[t] = i
    return found


def _control_tokens(tokens: Sequence[object], types: Sequence[object]) -> dict[str, int]:
    """Texts of the CONTROL tokens (the last id wins, as gguf's reader gave it before):
    chat templates name these tokens by text."""
    from gguf.constants import TokenType  # already imported by the header read

    control = int(TokenType.CONTROL)
    found: dict[str, int] = {}
    for i, (text, kind) in enumerate(zip(tokens, types, strict=False)):
        if kind == control and isinstance(text, str) and text:
            found[text] = i
    return found


def _classify(
    texts: dict[str, int], arch: str | None, key_pre_text: str | None
) -> tuple[str | None, _FamilyTexts | None]:
    """Which FIM family the vocab belongs to, from the texts it contains."""
    candidates: list[tuple[str, _FamilyTexts]] = []
    for family, variants in _FAMILY_TEXTS.items():
        for v in variants:
            if all(t in texts for t in (v.pre, v.suf, v.mid)):
                candidates.append((family, v))
                break
    if key_pre_text is not None:  # the declared prefix token decides between spellings
        preferred = [c for c in candidates if c[1].pre == key_pre_text]
        candidates = preferred or candidates
    if not candidates:
        return None, None
    families = {f for f, _ in candidates}
    if {"qwen", "codegemma"} <= families:  # same FIM texts: decide by arch, then by vocab
        gemma = (arch or "").startswith("gemma") or "<end_of_turn>" in texts
        pick = "codegemma" if gemma else "qwen"
        return next(c for c in candidates if c[0] == pick)
    return candidates[0]


def _valid_id(i: int | None, vocab: int | None, what: str, warnings: list[str]) -> int | None:
    if i is None or vocab is None or 0 <= i < vocab:
        return i
    warnings.append(f"{what} id {i} is outside the vocabulary (size {vocab}); ignored")
    return None


def _fim_tokens(
    kv: dict[str, object],
    texts: dict[str, int],
    ft: _FamilyTexts | None,
    vocab: int | None,
    warnings: list[str],
) -> VocabFimTokens:
    """GGUF keys win (the converter declared them); token texts fill the gaps."""

    def pick(keys: Iterable[str], text: str | None, what: str) -> int | None:
        for key in keys:
            v = _valid_id(_int(kv, key), vocab, what, warnings)
            if v is not None:
                return v
        return texts.get(text) if text else None

    p = "tokenizer.ggml."
    t = ft or _FamilyTexts("", "", "")  # empty texts are never looked up
    return VocabFimTokens(
        pre=pick((p + "fim_pre_token_id", p + "prefix_token_id"), t.pre, "FIM prefix"),
        suf=pick((p + "fim_suf_token_id", p + "suffix_token_id"), t.suf, "FIM suffix"),
        mid=pick((p + "fim_mid_token_id", p + "middle_token_id"), t.mid, "FIM middle"),
        pad=pick((p + "fim_pad_token_id",), t.pad, "FIM pad"),
        rep=pick((p + "fim_rep_token_id",), t.rep, "FIM repo"),
        sep=pick((p + "fim_sep_token_id",), t.sep, "FIM file separator"),
    )


def _stop_ids(
    eot: int | None,
    eos: int | None,
    fim: VocabFimTokens,
    ft: _FamilyTexts | None,
    texts: dict[str, int],
) -> tuple[int, ...]:
    ordered: list[int | None] = [eot, eos]
    if ft is not None:
        ordered += [texts.get(t) for t in ft.eot] + [fim.sep]
    else:
        ordered += [texts.get(t) for t in _GENERIC_STOP_TEXTS]
    return tuple(dict.fromkeys(i for i in ordered if i is not None))


def _interpret(path: Path, size: int, h: Header) -> ModelInfo:
    kv = h.kv
    warnings: list[str] = []
    arch = _str(kv, "general.architecture")
    a = f"{arch}." if arch else "\0"  # no arch: arch-scoped keys simply are absent
    tokens = h.arrays.get("tokenizer.ggml.tokens", [])
    vocab = len(tokens) if tokens else _int(kv, a + "vocab_size")
    texts = _token_index(tokens)

    key_pre = _int(kv, "tokenizer.ggml.fim_pre_token_id")
    if key_pre is None:
        key_pre = _int(kv, "tokenizer.ggml.prefix_token_id")
    key_pre_text = tokens[key_pre] if key_pre is not None and 0 <= key_pre < len(tokens) else None
    family, ft = _classify(texts, arch, key_pre_text if isinstance(key_pre_text, str) else None)
    fim = _fim_tokens(kv, texts, ft, vocab, warnings)
    if not fim.complete:
        family = None  # a family without all three FIM tokens is no use for infill

    eos = _valid_id(_int(kv, "tokenizer.ggml.eos_token_id"), vocab, "EOS", warnings)
    eot = _valid_id(_int(kv, "tokenizer.ggml.eot_token_id"), vocab, "EOT", warnings)
    if eot is None and ft is not None:  # llama.cpp finds no EOT for Code Llama vocabs
        eot = next((texts[t] for t in ft.eot if t in texts), None)
    if arch is None:
        warnings.append("general.architecture is missing; llama.cpp will refuse this file")

    return ModelInfo(
        path=path,
        file_size=size,
        version=h.version,
        tensor_count=h.tensor_count,
        architecture=arch,
        name=_str(kv, "general.name"),
        file_type=_int(kv, "general.file_type"),
        context_length=_int(kv, a + "context_length"),
        rope_freq_base=_float(kv, a + "rope.freq_base"),
        embedding_length=_int(kv, a + "embedding_length"),
        block_count=_int(kv, a + "block_count"),
        head_count=_int(kv, a + "attention.head_count"),
        vocab_size=vocab,
        tokenizer_model=_str(kv, "tokenizer.ggml.model"),
        bos_id=_valid_id(_int(kv, "tokenizer.ggml.bos_token_id"), vocab, "BOS", warnings),
        eos_id=eos,
        eot_id=eot,
        fim=fim,
        fim_family=family,
        has_chat_template=bool(_str(kv, "tokenizer.chat_template")),
        add_bos=_bool(kv, "tokenizer.ggml.add_bos_token"),
        add_space_prefix=_bool(kv, "tokenizer.ggml.add_space_prefix"),
        stop_ids=_stop_ids(eot, eos, fim, ft, texts),
        tensor_types=h.tensor_types,
        metadata={k: v for k, v in kv.items() if v is not None},
        control_tokens=_control_tokens(tokens, h.arrays.get("tokenizer.ggml.token_type", [])),
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------------------- entry points


def read_model_info(path: str | os.PathLike[str], *, validate_tensors: bool = True) -> ModelInfo:
    """Read and check a GGUF header. Raises ModelFileError for anything unusable."""
    p = Path(path)
    header, size = read_header(p, validate_tensors)
    return _interpret(p, size, header)


def _size(n: int) -> str:
    f = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if f < 1000 or unit == "GB":
            return f"{f:.0f} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1000
    return f"{n} B"


def _num(v: float) -> str:
    return f"{v:.0f}" if v.is_integer() else f"{v:g}"


def _opt(v: object) -> str:
    return "?" if v is None else str(v)


def describe(info: ModelInfo) -> str:
    """A human summary, for `cl-lsp doctor`."""
    types = ", ".join(f"{k}×{v}" for k, v in sorted(info.tensor_types.items(), key=lambda x: -x[1]))
    rope = "" if info.rope_freq_base is None else f", rope base {_num(info.rope_freq_base)}"
    lines = [
        f"model:         {info.path} ({_size(info.file_size)}, GGUF v{info.version})",
        f"name:          {_opt(info.name)}",
        f"architecture:  {_opt(info.architecture)}, {_opt(info.block_count)} layers,"
        f" {_opt(info.embedding_length)} embd, context {_opt(info.context_length)}{rope}",
        f"tensors:       {info.tensor_count}" + (f" ({types})" if types else ""),
        f"tokenizer:     {_opt(info.tokenizer_model)}, {_opt(info.vocab_size)} tokens,"
        f" bos {_opt(info.bos_id)}, eos {_opt(info.eos_id)}, eot {_opt(info.eot_id)},"
        f" add_bos {_opt(info.add_bos)}, add_space_prefix {_opt(info.add_space_prefix)}",
    ]
    if info.has_fim:
        fim = info.fim
        extra = "".join(
            f", {n} {v}"
            for n, v in (("pad", fim.pad), ("rep", fim.rep), ("sep", fim.sep))
            if v is not None
        )
        lines.append(
            f"fill-in-middle: {info.fim_family}: pre {fim.pre}, suf {fim.suf}, mid {fim.mid}{extra}"
        )
    else:
        lines.append("fill-in-middle: none found; completions will use the prefix only")
    lines.append(f"stop tokens:   {', '.join(map(str, info.stop_ids)) or 'none'}")
    lines.append(f"chat template: {'yes' if info.has_chat_template else 'no'}")
    lines += [f"warning:       {w}" for w in info.warnings]
    return "\n".join(lines)
