"""A small, bounded, defensive reader for GGUF headers (stdlib only).

GGUF files are untrusted input: llama.cpp has had overflow CVEs in its GGUF parser
(CVE-2024-21802, CVE-2024-23605, ...). We read and check the header here, before
llama.cpp ever sees the file, and turn every problem into a `ModelFileError` with a
message a user can act on. Only the header is read, never tensor data, and every
length is checked against the bytes that are left before anything is allocated.

Format (little-endian): magic "GGUF", u32 version, u64 tensor count, u64 kv count,
then kv pairs (string key, u32 type, value), then tensor infos (string name,
u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset), then aligned tensor data.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "FIM_FAMILIES",
    "FimTokens",
    "ModelFileError",
    "ModelInfo",
    "describe",
    "read_model_info",
]

# ---------------------------------------------------------------------------- limits

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
MAX_TENSORS = 1_000_000
MAX_KV = 100_000
MAX_KEY_BYTES = 65_536
MAX_STRING_BYTES = 16 * 1024 * 1024  # chat templates are KBs; anything this big is hostile
# Largest real vocabs are ~262k tokens; merge lists ~300k-1M. Number arrays are skipped
# in O(1); string arrays cost a loop step per item, and kept ones cost memory.
MAX_ARRAY_ITEMS = 64 * 1024 * 1024
MAX_STRING_ARRAY_ITEMS = 4 * 1024 * 1024
MAX_KEPT_ARRAY_ITEMS = 1024 * 1024
MAX_TOTAL_STRINGS = 8 * 1024 * 1024  # bounds the work a crafted header can cause (~2 s)
MAX_TENSOR_NAME = 64  # GGML_MAX_NAME in ggml.h (the name must be shorter)
MAX_DIMS = 4  # GGML_MAX_DIMS
DEFAULT_ALIGNMENT = 32
_CHUNK = 1 << 20  # read the header in 1 MiB pieces

# Arrays we keep as lists; every other array is skipped (but still bounds-checked).
_KEPT_ARRAYS = frozenset({"tokenizer.ggml.tokens", "tokenizer.ggml.token_type"})
_CONTROL = 3  # llama_token_type CONTROL: chat templates name these tokens by text

# GGUF value types: id -> (struct format, size). STRING=8 and ARRAY=9 are handled apart.
_T_BOOL, _T_STRING, _T_ARRAY = 7, 8, 9
_SCALARS: dict[int, tuple[str, int]] = {
    0: ("B", 1),
    1: ("b", 1),
    2: ("H", 2),
    3: ("h", 2),
    4: ("I", 4),
    5: ("i", 4),
    6: ("f", 4),
    7: ("B", 1),
    10: ("Q", 8),
    11: ("q", 8),
    12: ("d", 8),
}

# ggml tensor types: id -> (name, elements per block, bytes per block); from ggml.h.
_GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}

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


class ModelFileError(ValueError):
    """A model file that cannot or must not be loaded; `fix` says what to do about it."""

    def __init__(self, path: str | os.PathLike[str], message: str, fix: str) -> None:
        self.path = Path(path)
        self.message = message
        self.fix = fix
        super().__init__(f"{self.path}: {message}\n  fix: {fix}")


@dataclass(frozen=True)
class FimTokens:
    """Fill-in-the-middle token ids (None where the model has no such token)."""

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
    fim: FimTokens
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


# ---------------------------------------------------------------------------- reader


class _Truncated(Exception):
    """Internal: the header needs more bytes than the file has."""


class _Corrupt(Exception):
    """Internal: a header value is out of bounds; the message says which."""


class _Reader:
    """Sequential reads over a file through a bounded buffer, never past `size`."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self._f = f
        self._size = size
        self._buf = b""
        self._pos = 0  # position in _buf
        self._base = 0  # file offset of _buf[0]
        self.strings_seen = 0

    @property
    def offset(self) -> int:
        return self._base + self._pos

    @property
    def remaining(self) -> int:
        return self._size - self.offset

    def _ensure(self, n: int) -> None:
        have = len(self._buf) - self._pos
        if have >= n:
            return
        if n > self.remaining:
            raise _Truncated
        parts = [self._buf[self._pos :]]
        want = min(max(n - have, _CHUNK), self.remaining - have)
        while want > 0:  # raw reads may come back short
            more = self._f.read(want)
            if not more:  # the file shrank under us
                raise _Truncated
            parts.append(more)
            want -= len(more)
        self._buf = b"".join(parts)
        self._base += self._pos
        self._pos = 0

    def unpack(self, fmt: str, size: int) -> tuple[int | float, ...]:
        self._ensure(size)
        values = struct.unpack_from("<" + fmt, self._buf, self._pos)
        self._pos += size
        return values

    def u32(self) -> int:
        return int(self.unpack("I", 4)[0])

    def u64(self) -> int:
        return int(self.unpack("Q", 8)[0])

    def take(self, n: int) -> bytes:
        self._ensure(n)
        data = self._buf[self._pos : self._pos + n]
        self._pos += n
        return data

    def skip(self, n: int) -> None:
        if n > self.remaining:
            raise _Truncated
        have = len(self._buf) - self._pos
        if n <= have:
            self._pos += n
            return
        target = self.offset + n
        self._f.seek(target)
        self._buf, self._pos, self._base = b"", 0, target

    def string(self, limit: int = MAX_STRING_BYTES) -> str:
        n = self.u64()
        if n > self.remaining:
            raise _Truncated
        if n > limit:
            raise _Corrupt(f"a string claims {n:,} bytes (limit {limit:,})")
        return self.take(n).decode("utf-8", errors="replace")

    def strings(self, count: int, keep: bool) -> list[str] | None:
        """Read or skip `count` strings; the hot loop of big vocabularies and merge lists."""
        out: list[str] | None = [] if keep else None
        self.strings_seen += count
        if self.strings_seen > MAX_TOTAL_STRINGS:
            raise _Corrupt(f"the header holds more than {MAX_TOTAL_STRINGS:,} strings")
        unpack, size = _U64.unpack_from, self._size
        for _ in range(count):
            if len(self._buf) - self._pos < 8:
                self._ensure(8)
            n = unpack(self._buf, self._pos)[0]
            start = self._pos + 8
            if n > MAX_STRING_BYTES:
                if self._base + start + n > size:
                    raise _Truncated
                raise _Corrupt(f"a string claims {n:,} bytes")
            if start + n <= len(self._buf):  # fast path: the whole string is buffered
                if out is not None:
                    out.append(self._buf[start : start + n].decode("utf-8", errors="replace"))
                self._pos = start + n
            else:
                self._pos = start
                if out is not None:
                    out.append(self.take(n).decode("utf-8", errors="replace"))
                else:
                    self.skip(n)
        return out


_U64 = struct.Struct("<Q")


def _read_value(r: _Reader, vtype: int, key: str, keep_array: bool) -> object:
    if vtype in _SCALARS:
        fmt, size = _SCALARS[vtype]
        value = r.unpack(fmt, size)[0]
        return bool(value) if vtype == _T_BOOL else value
    if vtype == _T_STRING:
        return r.string()
    if vtype == _T_ARRAY:
        return _read_array(r, key, keep_array)
    raise _Corrupt(f"key {key!r} has unknown value type {vtype}")


def _read_array(r: _Reader, key: str, keep: bool) -> Sequence[object] | None:
    etype, count = r.u32(), r.u64()
    if etype == _T_ARRAY:
        raise _Corrupt(f"key {key!r} is a nested array (not supported by llama.cpp)")
    if etype != _T_STRING and etype not in _SCALARS:
        raise _Corrupt(f"array {key!r} has unknown element type {etype}")
    min_item = 8 if etype == _T_STRING else _SCALARS[etype][1]
    if count > MAX_ARRAY_ITEMS:
        raise _Corrupt(f"array {key!r} claims {count:,} items (limit {MAX_ARRAY_ITEMS:,})")
    if count * min_item > r.remaining:  # checked before any list is built
        raise _Truncated
    if etype == _T_STRING:
        if count > (MAX_KEPT_ARRAY_ITEMS if keep else MAX_STRING_ARRAY_ITEMS):
            raise _Corrupt(f"array {key!r} claims {count:,} strings")
        return r.strings(count, keep)
    if keep and count > MAX_KEPT_ARRAY_ITEMS:
        raise _Corrupt(f"array {key!r} claims {count:,} items")
    fmt, size = _SCALARS[etype]
    if not keep:
        r.skip(count * size)
        return None
    return list(r.unpack(f"{count}{fmt}", count * size))


@dataclass
class _Header:
    version: int
    tensor_count: int
    kv: dict[str, object]
    arrays: dict[str, Sequence[object]]
    tensor_types: dict[str, int]


def _read_header(r: _Reader, path: Path, validate_tensors: bool) -> _Header:
    magic = r.take(4)
    if magic != MAGIC:
        raise _magic_error(path, magic + r.take(min(r.remaining, 28)))
    version = r.u32()
    _check_version(path, version)
    tensor_count, kv_count = r.u64(), r.u64()
    _check_counts(path, tensor_count, kv_count, r.remaining)

    kv: dict[str, object] = {}
    arrays: dict[str, Sequence[object]] = {}
    for _ in range(kv_count):
        key = r.string(MAX_KEY_BYTES)
        vtype = r.u32()
        value = _read_value(r, vtype, key, keep_array=key in _KEPT_ARRAYS)
        if key in kv or key in arrays:
            raise _Corrupt(f"duplicate key {key!r}")
        if isinstance(value, list):
            arrays[key] = value
        elif value is not None:
            kv[key] = value
        else:
            kv.setdefault(key, None)  # a skipped array: remember that it exists
    tensor_types: dict[str, int] = {}
    if validate_tensors:
        tensor_types = _read_tensor_infos(r, tensor_count, _alignment(kv))
    return _Header(version, tensor_count, kv, arrays, tensor_types)


def _alignment(kv: dict[str, object]) -> int:
    value = kv.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _Corrupt(f"general.alignment is {value!r}")
    if value & (value - 1):
        raise _Corrupt(f"general.alignment {value} is not a power of two")
    return value


def _read_tensor_infos(r: _Reader, count: int, alignment: int) -> dict[str, int]:
    """Check every tensor info; return a histogram of tensor types."""
    seen: set[str] = set()
    infos: list[tuple[str, int, int]] = []  # name, offset, nbytes
    types: dict[str, int] = {}
    for _ in range(count):
        name = r.string(MAX_TENSOR_NAME - 1)
        if name in seen:
            raise _Corrupt(f"duplicate tensor name {name!r}")
        seen.add(name)
        n_dims = r.u32()
        if not 1 <= n_dims <= MAX_DIMS:
            raise _Corrupt(f"tensor {name!r} has {n_dims} dimensions (1..{MAX_DIMS} allowed)")
        dims = r.unpack(f"{n_dims}Q", 8 * n_dims)
        ttype, offset = r.u32(), r.u64()
        if ttype not in _GGML_TYPES:
            raise _Corrupt(f"tensor {name!r} has unknown ggml type {ttype}")
        tname, block, type_size = _GGML_TYPES[ttype]
        types[tname] = types.get(tname, 0) + 1
        infos.append((name, offset, _tensor_bytes(name, dims, block, type_size)))
    data_start = -(-r.offset // alignment) * alignment
    data_size = r.offset + r.remaining - data_start
    for name, offset, nbytes in infos:
        if offset % alignment:
            raise _Corrupt(f"tensor {name!r} offset {offset} is not {alignment}-aligned")
        if offset + nbytes > data_size:
            raise _Truncated(
                f"tensor {name!r} ends at byte {data_start + offset + nbytes:,}"
                f" but the file has only {data_start + max(data_size, 0):,} bytes"
            )
    return types


def _tensor_bytes(name: str, dims: Sequence[int | float], block: int, type_size: int) -> int:
    n = 1
    for d in dims:
        if not 0 < int(d) < 2**62:
            raise _Corrupt(f"tensor {name!r} has a dimension of {int(d)}")
        n *= int(d)
        if n >= 2**62:  # ggml counts elements in int64
            raise _Corrupt(f"tensor {name!r} has too many elements")
    if int(dims[0]) % block:
        raise _Corrupt(f"tensor {name!r} row of {int(dims[0])} is not a multiple of {block}")
    return n // block * type_size


# ---------------------------------------------------------------------------- checks


def _check_version(path: Path, version: int) -> None:
    if version in SUPPORTED_VERSIONS:
        return
    if version == 1:
        raise ModelFileError(
            path,
            "GGUF version 1 is obsolete and not supported",
            "re-download the model, or convert it again with a current llama.cpp",
        )
    if version in (0x02000000, 0x03000000):  # the byte-swapped 2 or 3
        raise ModelFileError(
            path,
            "this is a big-endian GGUF file",
            "use a little-endian GGUF (the default output of llama.cpp's converters)",
        )
    raise ModelFileError(
        path,
        f"GGUF version {version} is not supported (expected 2 or 3)",
        "use a GGUF v3 file; if it is newer, update llama-cpp-python and cl-lsp",
    )


def _check_counts(path: Path, tensors: int, kvs: int, remaining: int) -> None:
    fix = "the file is corrupt or was crafted; download the model again from a trusted source"
    if tensors > MAX_TENSORS:
        raise ModelFileError(
            path, f"header claims {tensors:,} tensors (limit {MAX_TENSORS:,})", fix
        )
    if kvs > MAX_KV:
        raise ModelFileError(path, f"header claims {kvs:,} metadata keys (limit {MAX_KV:,})", fix)
    # Smallest possible entries: kv = 8+1+4+1 bytes, tensor info = 8+1+4+8+4+8 bytes.
    if kvs * 14 + tensors * 33 > remaining:
        raise ModelFileError(
            path,
            f"header claims {tensors:,} tensors and {kvs:,} keys, which cannot fit"
            f" in the {remaining:,} bytes that follow",
            fix,
        )


_KNOWN_PREFIXES: tuple[tuple[bytes, str, str], ...] = (
    (b"ggjt", "an old GGML (ggjt) model", "download or convert a GGUF version of the model"),
    (b"ggml", "an old GGML model", "download or convert a GGUF version of the model"),
    (b"ggmf", "an old GGML (ggmf) model", "download or convert a GGUF version of the model"),
    (b"tjgg", "an old GGML (ggjt) model", "download or convert a GGUF version of the model"),
    (b"lmgg", "an old GGML model", "download or convert a GGUF version of the model"),
    (
        b"version https://git-lfs",
        "a Git LFS pointer, not the model itself",
        "run `git lfs pull` in the model repository, or download the .gguf file directly",
    ),
    (
        b"PK\x03\x04",
        "a zip archive (a PyTorch checkpoint?)",
        "convert it to GGUF with llama.cpp's convert_hf_to_gguf.py, or download a GGUF",
    ),
    (b"<!DOCTYPE", "an HTML page (a failed download?)", "download the model file again"),
    (b"<html", "an HTML page (a failed download?)", "download the model file again"),
    (b"{", "a JSON file", "point cl-lsp at the .gguf model file"),
)


def _magic_error(path: Path, head: bytes) -> ModelFileError:
    for prefix, what, fix in _KNOWN_PREFIXES:
        if head.lower().startswith(prefix.lower()):
            return ModelFileError(path, f"not a GGUF file: it looks like {what}", fix)
    if len(head) >= 9 and head[8:9] == b"{":  # u64 header length, then JSON
        return ModelFileError(
            path,
            "not a GGUF file: it looks like a safetensors file",
            "convert it with llama.cpp's convert_hf_to_gguf.py, or download a GGUF",
        )
    return ModelFileError(
        path,
        f"not a GGUF file (it starts with {head[:4]!r}, expected b'GGUF')",
        "point cl-lsp at a .gguf model file",
    )


def _open_checked(path: Path) -> tuple[BinaryIO, int]:
    """Open a regular, non-empty, readable file, with messages for each way it can fail."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelFileError(
            path,
            "model file not found",
            "check the model path in your settings, or download a GGUF model there",
        ) from None
    except PermissionError:
        raise _permission_error(path) from None
    except OSError as e:
        raise ModelFileError(
            path,
            f"cannot access the model file: {e.strerror}",
            "check the model path in your settings",
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise ModelFileError(
            path,
            "this is a directory, not a model file",
            "point the model path at the .gguf file inside it",
        )
    if not stat.S_ISREG(st.st_mode):  # FIFOs and devices would block or never end
        raise ModelFileError(
            path, "this is not a regular file", "point the model path at a .gguf file"
        )
    if st.st_size == 0:
        raise ModelFileError(
            path,
            "the model file is empty (0 bytes)",
            "the download was probably interrupted; download it again",
        )
    try:
        return open(path, "rb", buffering=0), st.st_size
    except PermissionError:
        raise _permission_error(path) from None
    except OSError as e:
        if e.errno == errno.EISDIR:
            raise ModelFileError(path, "this is a directory", "point at the .gguf file") from None
        raise ModelFileError(
            path, f"cannot open the model file: {e.strerror}", "check the file and its permissions"
        ) from None


def _permission_error(path: Path) -> ModelFileError:
    return ModelFileError(
        path,
        "permission denied: cannot read the model file",
        f"make it readable for this user, e.g. `chmod a+r {path}`",
    )


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
    """Texts of the CONTROL tokens (the last id wins, as gguf's reader gave it before)."""
    found: dict[str, int] = {}
    for i, (text, kind) in enumerate(zip(tokens, types, strict=False)):
        if kind == _CONTROL and isinstance(text, str) and text:
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
) -> FimTokens:
    """GGUF keys win (the converter declared them); token texts fill the gaps."""

    def pick(keys: Iterable[str], text: str | None, what: str) -> int | None:
        for key in keys:
            v = _valid_id(_int(kv, key), vocab, what, warnings)
            if v is not None:
                return v
        return texts.get(text) if text else None

    p = "tokenizer.ggml."
    t = ft or _FamilyTexts("", "", "")  # empty texts are never looked up
    return FimTokens(
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
    fim: FimTokens,
    ft: _FamilyTexts | None,
    texts: dict[str, int],
) -> tuple[int, ...]:
    ordered: list[int | None] = [eot, eos]
    if ft is not None:
        ordered += [texts.get(t) for t in ft.eot] + [fim.sep]
    else:
        ordered += [texts.get(t) for t in _GENERIC_STOP_TEXTS]
    return tuple(dict.fromkeys(i for i in ordered if i is not None))


def _interpret(path: Path, size: int, h: _Header) -> ModelInfo:
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
    f, size = _open_checked(p)
    with f:
        r = _Reader(f, size)
        try:
            header = _read_header(r, p, validate_tensors)
        except _Truncated as e:
            detail = str(e) or (
                f"its header runs past the end of the file ({size:,} bytes;"
                f" failed near byte {r.offset:,})"
            )
            raise ModelFileError(
                p,
                f"the model file is truncated: {detail}",
                "the download was probably interrupted; download the model again",
            ) from None
        except _Corrupt as e:
            raise ModelFileError(
                p,
                f"corrupt GGUF header: {e}",
                "the file is damaged or was crafted; download it again from a trusted source",
            ) from None
        except OSError as e:
            raise ModelFileError(
                p, f"error reading the model file: {e.strerror}", "check the disk and the file"
            ) from None
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
