"""llama.cpp's real tokenizer vocabularies, and tiny random-weight models built on them.

The llama-cpp-python sdist vendors vocab-only GGUFs (`ggml-vocab-llama-spm.gguf`,
`-starcoder`, `-deepseek-coder`, `-qwen2`, `-refact`, ...). `packaging/fetch-vocabs.sh`
keeps them in a user cache; nothing here downloads, and nothing is committed. Tests skip
with `missing_reason(name)` when a vocabulary is absent (.ci/run installs them).

Code Llama's vocabulary is Llama 2's SentencePiece vocabulary (32,000 ids) extended to
32,016 ids with `▁<PRE>`=32007, `▁<SUF>`=32008, `▁<MID>`=32009, `▁<EOT>`=32010 as control
tokens; `codellama_tokenizer` rebuilds that from `ggml-vocab-llama-spm.gguf`. The other
added ids (32000-32006, 32011-32015) are unreachable placeholders here.

`gguf` and `numpy` are imported inside the functions: importing this module is free.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cl_lsp.testing.tiny_model import CODELLAMA_VOCAB_SIZE, FIM_IDS, build_model, tiny_params
from cl_lsp.testing.tiny_model import write_hparams as _write_hparams

__all__ = [
    "CODELLAMA",
    "VOCAB_VERSION",
    "Tokenizer",
    "cached_vocab_model",
    "codellama_tokenizer",
    "missing_reason",
    "read_tokenizer",
    "vocab_dir",
    "vocab_path",
]

VOCAB_VERSION = "0.3.36"  # the llama-cpp-python release whose sdist they come from
CODELLAMA = "codellama"  # pseudo-name: llama-spm extended to Code Llama's 32,016 ids
_FIM_TEXTS = {"pre": "▁<PRE>", "suf": "▁<SUF>", "mid": "▁<MID>", "eot": "▁<EOT>"}
# Bump when the generated files change, so cached copies are rebuilt.
_CONTENT_VERSION = 1


def vocab_dir() -> Path:
    """Where fetch-vocabs.sh puts them ($CL_LSP_VOCAB_DIR overrides)."""
    override = os.environ.get("CL_LSP_VOCAB_DIR")
    if override:
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "cl-lsp" / "vocabs" / VOCAB_VERSION


def vocab_path(name: str) -> Path | None:
    """`ggml-vocab-<name>.gguf` from the cache, or None when it is not there."""
    path = vocab_dir() / f"ggml-vocab-{name}.gguf"
    return path if path.is_file() else None


def missing_reason(name: str) -> str:
    return (
        f"llama.cpp vocabulary ggml-vocab-{name}.gguf is not in {vocab_dir()}: "
        "run `bash packaging/fetch-vocabs.sh` (install.sh --dev and .ci/run do)"
    )


@dataclass
class _Field:
    value: Any
    vtype: Any  # gguf.GGUFValueType
    sub_type: Any = None  # the element type of an array


@dataclass
class Tokenizer:
    """The `tokenizer.*` metadata of a GGUF, ready to be written into another one."""

    fields: dict[str, _Field] = field(default_factory=dict)

    @property
    def tokens(self) -> list[str]:
        return list(self.fields["tokenizer.ggml.tokens"].value)

    def __len__(self) -> int:
        return len(self.fields["tokenizer.ggml.tokens"].value)

    def write(self, writer: Any) -> None:
        for key, f in self.fields.items():
            writer.add_key_value(key, f.value, f.vtype, sub_type=f.sub_type)


def read_tokenizer(path: Path) -> Tokenizer:
    """Every `tokenizer.*` key of a GGUF file, with its value type."""
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(path)
    out = Tokenizer()
    for key, f in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        sub = f.types[1] if f.types[0] == GGUFValueType.ARRAY and len(f.types) > 1 else None
        out.fields[key] = _Field(f.contents(), f.types[0], sub)
    return out


def codellama_tokenizer(spm: Tokenizer) -> Tokenizer:
    """Llama 2's vocabulary extended to Code Llama's: FIM control tokens at 32007-32010."""
    from gguf import TokenType

    tokens = list(spm.fields["tokenizer.ggml.tokens"].value)
    scores = list(spm.fields["tokenizer.ggml.scores"].value)
    types = list(spm.fields["tokenizer.ggml.token_type"].value)
    if len(tokens) != 32000:
        raise ValueError(f"expected Llama 2's 32,000-token vocabulary, got {len(tokens)}")
    by_id = {v: k for k, v in FIM_IDS.items()}
    while len(tokens) < CODELLAMA_VOCAB_SIZE:
        role = by_id.get(len(tokens))
        if role is not None:
            tokens.append(_FIM_TEXTS[role])
            types.append(int(TokenType.CONTROL))
            scores.append(0.0)
        else:  # placeholders no text spells
            tokens.append(f"<unused{len(tokens) - 32000}>")
            types.append(int(TokenType.NORMAL))
            scores.append(-1e6)
    out = Tokenizer(dict(spm.fields))
    for key, value in (
        ("tokenizer.ggml.tokens", tokens),
        ("tokenizer.ggml.scores", scores),
        ("tokenizer.ggml.token_type", types),
    ):
        old = spm.fields[key]
        out.fields[key] = _Field(value, old.vtype, old.sub_type)
    return out


def load_tokenizer(name: str) -> Tokenizer:
    """A cached vocabulary by name; CODELLAMA means the extended llama-spm one."""
    path = vocab_path("llama-spm" if name == CODELLAMA else name)
    if path is None:
        raise FileNotFoundError(missing_reason(name))
    tokenizer = read_tokenizer(path)
    return codellama_tokenizer(tokenizer) if name == CODELLAMA else tokenizer


def cached_vocab_model(
    cache_dir: Path, name: str, favor_token: int | None = None, **kwargs: Any
) -> Path:
    """A tiny random-weight llama-architecture GGUF with a real vocabulary, built once per
    (vocabulary file, parameters) into `cache_dir`. `kwargs` are make_tiny_codellama's
    size parameters (n_layer, n_embd, ...; fim/fim_keys do not apply); `favor_token`
    makes a model that always predicts that token."""
    source = vocab_path("llama-spm" if name == CODELLAMA else name)
    if source is None:
        raise FileNotFoundError(missing_reason(name))
    p = tiny_params(**kwargs)
    if favor_token is not None:
        p["favor_token"] = favor_token
    stat = source.stat()
    blob = json.dumps(
        {"v": _CONTENT_VERSION, "vocab": name, "size": stat.st_size, **p}, sort_keys=True
    )
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"tiny-{name}-{digest}.gguf"
    if path.is_file() and path.stat().st_size > 0:
        return path
    tokenizer = load_tokenizer(name)
    p["n_vocab"] = len(tokenizer)

    def metadata(writer: Any, params: dict[str, Any]) -> None:
        writer.add_name(f"tiny-{name}")
        _write_hparams(writer, params, params["n_vocab"])
        tokenizer.write(writer)

    return build_model(path, p, metadata)
