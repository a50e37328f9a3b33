"""A small, bounded, defensive reader for GGUF headers: the raw key/values and tensor types.

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
import functools
import os
import stat
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
KEPT_ARRAYS = frozenset({"tokenizer.ggml.tokens", "tokenizer.ggml.token_type"})

# GGUF value types by gguf's names -> struct format. The ids and the ggml tensor types
# block sizes come from the gguf package (`_types()`); STRING and ARRAY are handled apart.
_STRUCT_FORMATS = {
    "UINT8": "B",
    "INT8": "b",
    "UINT16": "H",
    "INT16": "h",
    "UINT32": "I",
    "INT32": "i",
    "FLOAT32": "f",
    "BOOL": "B",
    "UINT64": "Q",
    "INT64": "q",
    "FLOAT64": "d",
}


@dataclass(frozen=True)
class _Types:
    scalars: dict[int, tuple[str, int]]  # value type id -> (struct format, size)
    ggml: dict[int, tuple[str, int, int]]  # tensor type id -> (name, block elements, bytes)
    bool: int
    string: int
    array: int


@functools.cache
def _types() -> _Types:
    """gguf's type tables, imported on the first read (gguf pulls in numpy: ~40-130 ms
    that a server start need not pay before the model is loaded anyway)."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

    return _Types(
        scalars={
            int(GGUFValueType[name]): (fmt, struct.calcsize("<" + fmt))
            for name, fmt in _STRUCT_FORMATS.items()
        },
        ggml={
            int(t): (t.name, *GGML_QUANT_SIZES[t])
            for t in GGMLQuantizationType
            if t in GGML_QUANT_SIZES
        },
        bool=int(GGUFValueType.BOOL),
        string=int(GGUFValueType.STRING),
        array=int(GGUFValueType.ARRAY),
    )


# ---------------------------------------------------------------------------- errors


class ModelFileError(ValueError):
    """A model file that cannot or must not be loaded; `fix` says what to do about it."""

    def __init__(self, path: str | os.PathLike[str], message: str, fix: str) -> None:
        self.path = Path(path)
        self.message = message
        self.fix = fix
        super().__init__(f"{self.path}: {message}\n  fix: {fix}")


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
    t = _types()
    if vtype in t.scalars:
        fmt, size = t.scalars[vtype]
        value = r.unpack(fmt, size)[0]
        return bool(value) if vtype == t.bool else value
    if vtype == t.string:
        return r.string()
    if vtype == t.array:
        return _read_array(r, key, keep_array)
    raise _Corrupt(f"key {key!r} has unknown value type {vtype}")


def _read_array(r: _Reader, key: str, keep: bool) -> Sequence[object] | None:
    t = _types()
    etype, count = r.u32(), r.u64()
    if etype == t.array:
        raise _Corrupt(f"key {key!r} is a nested array (not supported by llama.cpp)")
    if etype != t.string and etype not in t.scalars:
        raise _Corrupt(f"array {key!r} has unknown element type {etype}")
    min_item = 8 if etype == t.string else t.scalars[etype][1]
    if count > MAX_ARRAY_ITEMS:
        raise _Corrupt(f"array {key!r} claims {count:,} items (limit {MAX_ARRAY_ITEMS:,})")
    if count * min_item > r.remaining:  # checked before any list is built
        raise _Truncated
    if etype == t.string:
        if count > (MAX_KEPT_ARRAY_ITEMS if keep else MAX_STRING_ARRAY_ITEMS):
            raise _Corrupt(f"array {key!r} claims {count:,} strings")
        return r.strings(count, keep)
    if keep and count > MAX_KEPT_ARRAY_ITEMS:
        raise _Corrupt(f"array {key!r} claims {count:,} items")
    fmt, size = t.scalars[etype]
    if not keep:
        r.skip(count * size)
        return None
    return list(r.unpack(f"{count}{fmt}", count * size))


@dataclass
class Header:
    version: int
    tensor_count: int
    kv: dict[str, object]
    arrays: dict[str, Sequence[object]]
    tensor_types: dict[str, int]


def _read_header(r: _Reader, path: Path, validate_tensors: bool) -> Header:
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
        value = _read_value(r, vtype, key, keep_array=key in KEPT_ARRAYS)
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
    return Header(version, tensor_count, kv, arrays, tensor_types)


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
    ggml_types = _types().ggml
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
        if ttype not in ggml_types:
            raise _Corrupt(f"tensor {name!r} has unknown ggml type {ttype}")
        tname, block, type_size = ggml_types[ttype]
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


# ---------------------------------------------------------------------------- entry point


def read_header(path: Path, validate_tensors: bool = True) -> tuple[Header, int]:
    """Read and check a GGUF header; the header and the file size. ModelFileError for
    anything unusable."""
    p = path
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
    return header, size
