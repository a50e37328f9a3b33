"""cl_lsp.engine.gguf_info: header facts of good files, clear errors for bad ones."""

from __future__ import annotations

import os
import random
import struct
import tracemalloc
from pathlib import Path

import pytest

from cl_lsp.engine.gguf_info import ModelFileError, ModelInfo, describe, read_model_info

pytest.importorskip("gguf")
pytest.importorskip("numpy")

from cl_lsp.testing.tiny_model import cached_tiny_codellama  # noqa: E402

# ---------------------------------------------------------------------------- GGUF bytes

U8, I32, U32, F32, BOOL, STR, ARR, U64 = 0, 5, 4, 6, 7, 8, 9, 10


def _s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _kv(key: str, vtype: int, value: object) -> bytes:
    head = _s(key) + struct.pack("<I", vtype)
    if vtype == STR:
        return head + _s(str(value))
    if vtype == ARR:
        assert isinstance(value, tuple)
        etype, items = value
        body = b"".join(_s(i) if etype == STR else struct.pack("<i", i) for i in items)
        return head + struct.pack("<IQ", etype, len(items)) + body
    fmt = {U8: "B", I32: "i", U32: "I", F32: "f", BOOL: "B", U64: "Q"}[vtype]
    return head + struct.pack("<" + fmt, value)


def _gguf(
    kvs: list[bytes],
    *,
    version: int = 3,
    n_tensors: int = 0,
    n_kv: int | None = None,
    tail: bytes = b"",
) -> bytes:
    count = len(kvs) if n_kv is None else n_kv
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, count) + b"".join(kvs) + tail


def _vocab_file(tmp_path: Path, tokens: list[str], arch: str = "llama", **extra: int) -> Path:
    kvs = [
        _kv("general.architecture", STR, arch),
        _kv("tokenizer.ggml.model", STR, "gpt2"),
        _kv("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        _kv("tokenizer.ggml.eos_token_id", U32, 0),
    ]
    kvs += [_kv(f"tokenizer.ggml.{k}", U32, v) for k, v in extra.items()]
    path = tmp_path / f"{arch}-{len(tokens)}.gguf"
    path.write_bytes(_gguf(kvs))
    return path


def _raises_fast(path: Path, match: str) -> ModelFileError:
    """The error comes without big allocations, whatever the header claims."""
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=match) as exc:
            read_model_info(path)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak allocation {peak:,} bytes"
    assert exc.value.fix and exc.value.path == path
    return exc.value


# ---------------------------------------------------------------------------- good files


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny(model_dir: Path) -> Path:
    return cached_tiny_codellama(model_dir)


def test_tiny_codellama_header(tiny: Path) -> None:
    info = read_model_info(tiny)
    assert info.architecture == "llama"
    assert info.fim_family == "codellama"
    assert (info.fim.pre, info.fim.suf, info.fim.mid) == (32007, 32008, 32009)
    assert info.eot_id == 32010
    assert info.has_fim
    assert info.context_length == 16384
    assert info.rope_freq_base == 1e6
    assert info.vocab_size == 32016
    assert (info.embedding_length, info.block_count, info.head_count) == (64, 2, 4)
    assert info.tokenizer_model == "llama"
    assert (info.bos_id, info.eos_id) == (1, 2)
    assert info.add_bos is True and info.add_space_prefix is True
    assert info.stop_ids == (32010, 2)
    assert not info.has_chat_template
    assert info.tensor_count == 21 and info.tensor_types == {"F16": 16, "F32": 5}
    assert info.warnings == ()


def test_fim_keys_agree_with_token_texts(model_dir: Path) -> None:
    info = read_model_info(cached_tiny_codellama(model_dir, fim_keys=True))
    assert info.fim_family == "codellama"
    assert (info.fim.pre, info.fim.suf, info.fim.mid, info.eot_id) == (32007, 32008, 32009, 32010)


def test_model_without_fim(model_dir: Path) -> None:
    info = read_model_info(cached_tiny_codellama(model_dir, fim=False))
    assert info.fim_family is None and not info.has_fim
    assert info.eot_id is None
    assert info.stop_ids == (2,)
    assert "prefix only" in describe(info)


def test_describe(tiny: Path) -> None:
    text = describe(read_model_info(tiny))
    assert "codellama: pre 32007, suf 32008, mid 32009" in text
    assert "context 16384" in text and "rope base 1000000" in text
    assert "stop tokens:   32010, 2" in text


def test_large_vocab_header(tmp_path: Path) -> None:
    # Qwen-sized: 152k tokens and 152k merges; tensor data is never read.
    n = 152_000
    fim = ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]
    tokens = [f"tok{i}" for i in range(n - 3)] + fim
    merges = [f"t ok{i}" for i in range(n)]
    kvs = [
        _kv("general.architecture", STR, "qwen2"),
        _kv("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        _kv("tokenizer.ggml.merges", ARR, (STR, merges)),
        _kv("tokenizer.ggml.token_type", ARR, (I32, [1] * n)),
    ]
    path = tmp_path / "big.gguf"
    path.write_bytes(_gguf(kvs))
    info = read_model_info(path)
    assert info.vocab_size == n and info.fim_family == "qwen"


# ---------------------------------------------------------------------------- families


@pytest.mark.parametrize(
    ("tokens", "arch", "family", "stops"),
    [
        (
            ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "x"],
            "starcoder",
            "starcoder",
            (0,),
        ),
        (
            [
                "<|endoftext|>",
                "<|fim_prefix|>",
                "<|fim_middle|>",
                "<|fim_suffix|>",
                "<|fim_pad|>",
                "<|repo_name|>",
                "<|file_sep|>",
                "<|im_end|>",
            ],
            "qwen2",
            "qwen",
            (0, 4, 6, 5, 7),
        ),
        (
            [
                "<eos>",
                "<|fim_prefix|>",
                "<|fim_middle|>",
                "<|fim_suffix|>",
                "<|file_separator|>",
                "<end_of_turn>",
            ],
            "gemma",
            "codegemma",
            (4, 0, 5),
        ),
        (
            [
                "<｜end▁of▁sentence｜>",
                "<｜fim▁begin｜>",
                "<｜fim▁hole｜>",
                "<｜fim▁end｜>",
                "<|EOT|>",
            ],
            "llama",
            "deepseek",
            (4, 0),
        ),
        (["</s>", "<PRE>", "<SUF>", "<MID>", "<EOT>"], "llama", "codellama", (4, 0)),
        (["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a"], "llama", None, (0, 2)),
    ],
)
def test_fim_family_by_token_text(
    tmp_path: Path, tokens: list[str], arch: str, family: str | None, stops: tuple[int, ...]
) -> None:
    info = read_model_info(_vocab_file(tmp_path, tokens, arch))
    assert info.fim_family == family
    assert info.has_fim == (family is not None)
    assert info.stop_ids == stops


def test_deepseek_token_roles(tmp_path: Path) -> None:
    tokens = ["<｜end▁of▁sentence｜>", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"]
    info = read_model_info(_vocab_file(tmp_path, tokens))
    # begin = before the prefix, hole = where the suffix starts, end = generate here
    assert (info.fim.pre, info.fim.suf, info.fim.mid) == (1, 2, 3)


def test_fim_keys_without_known_texts(tmp_path: Path) -> None:
    tokens = ["</s>", "[P]", "[S]", "[M]", "x"]
    path = _vocab_file(
        tmp_path,
        tokens,
        fim_pre_token_id=1,
        fim_suf_token_id=2,
        fim_mid_token_id=3,
    )
    info = read_model_info(path)
    assert (info.fim.pre, info.fim.suf, info.fim.mid) == (1, 2, 3)
    assert info.has_fim and info.fim_family is None


def test_old_prefix_suffix_middle_keys(tmp_path: Path) -> None:
    tokens = ["</s>", "<PRE>", "<SUF>", "<MID>", "<EOT>"]
    path = _vocab_file(tmp_path, tokens, prefix_token_id=1, suffix_token_id=2, middle_token_id=3)
    info = read_model_info(path)
    assert info.fim_family == "codellama" and info.eot_id == 4


def test_out_of_range_ids_are_dropped_with_a_warning(tmp_path: Path) -> None:
    info = read_model_info(_vocab_file(tmp_path, ["</s>", "a"], eot_token_id=99))
    assert info.eot_id is None
    assert any("EOT id 99" in w for w in info.warnings)


# ---------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path: Path) -> None:
    err = _raises_fast(tmp_path / "nope.gguf", "not found")
    assert "settings" in err.fix


def test_directory(tmp_path: Path) -> None:
    _raises_fast(tmp_path, "directory")


def test_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.gguf"
    os.mkfifo(fifo)  # opening it would block forever
    _raises_fast(fifo, "not a regular file")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_permission_denied(tiny: Path, tmp_path: Path) -> None:
    path = tmp_path / "locked.gguf"
    path.write_bytes(tiny.read_bytes()[:4096])
    path.chmod(0)
    _raises_fast(path, "permission denied")


def test_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    path.touch()
    err = _raises_fast(path, "empty")
    assert "download" in err.fix


@pytest.mark.parametrize("cut", [1, 4, 7, 8, 15, 23, 24, 40, 1000, 100_000, -100_000, -1])
def test_truncated(tiny: Path, tmp_path: Path, cut: int) -> None:
    data = tiny.read_bytes()
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[:cut] if cut > 0 else data[: len(data) + cut])
    _raises_fast(path, "truncated")


@pytest.mark.parametrize(
    ("head", "match"),
    [
        (b"GGML" + bytes(60), "not a GGUF file"),
        (b"ggjt" + bytes(60), "old GGML"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:00\n", "Git LFS"),
        (b"<!DOCTYPE html><html></html>", "HTML"),
        (b"PK\x03\x04" + bytes(60), "zip"),
        (struct.pack("<Q", 100) + b'{"__metadata__":{}}', "safetensors"),
    ],
)
def test_wrong_magic(tmp_path: Path, head: bytes, match: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(head)
    _raises_fast(path, match)


@pytest.mark.parametrize(
    ("version", "match"),
    [
        (99, "version 99 is not supported"),
        (1, "version 1 is obsolete"),
        (0x03000000, "big-endian"),
        (0, "version 0"),
    ],
)
def test_unsupported_version(tmp_path: Path, version: int, match: str) -> None:
    path = tmp_path / "v.gguf"
    path.write_bytes(_gguf([], version=version) + bytes(64))
    _raises_fast(path, match)


_KEY = _s("general.architecture") + struct.pack("<I", STR)
_ARRAY_HEAD = _s("tokenizer.ggml.tokens") + struct.pack("<I", ARR)

FORGED: dict[str, tuple[bytes, str]] = {
    "2^40 tensors": (_gguf([], n_tensors=2**40, n_kv=0) + bytes(64), "1,099,511,627,776 tensors"),
    "2^40 kvs": (_gguf([], n_kv=2**40) + bytes(64), "metadata keys"),
    "kvs that cannot fit": (_gguf([], n_kv=50_000) + bytes(64), "cannot fit"),
    "tensors that cannot fit": (_gguf([], n_tensors=500_000, n_kv=0) + bytes(64), "cannot fit"),
    "2^60 key length": (_gguf([struct.pack("<Q", 2**60)], n_kv=1) + bytes(64), "truncated"),
    "2^60 string value": (_gguf([_KEY + struct.pack("<Q", 2**60) + bytes(64)]), "truncated"),
    "huge string that fits": (
        _gguf([_KEY + struct.pack("<Q", 2**60)], n_kv=1, tail=bytes(64)),
        "truncated",
    ),
    "2^60 array items": (
        _gguf([_ARRAY_HEAD + struct.pack("<IQ", STR, 2**60) + bytes(64)]),
        "2^60|items|truncated",
    ),
    "array of 2^40 u8 past end": (
        _gguf([_ARRAY_HEAD + struct.pack("<IQ", U8, 2**40) + bytes(64)]),
        "items|truncated",
    ),
    "nested array": (_gguf([_ARRAY_HEAD + struct.pack("<IQ", ARR, 1) + bytes(64)]), "nested array"),
    "unknown value type": (
        _gguf([_s("general.x") + struct.pack("<I", 77) + bytes(64)]),
        "unknown value type 77",
    ),
    "unknown array type": (
        _gguf([_ARRAY_HEAD + struct.pack("<IQ", 42, 1) + bytes(64)]),
        "unknown element type 42",
    ),
    "duplicate key": (
        _gguf([_kv("general.name", STR, "a"), _kv("general.name", STR, "b")]),
        "duplicate key",
    ),
    "bad alignment": (_gguf([_kv("general.alignment", U32, 3)]), "power of two"),
}


def _tensor_file(n_dims: int, dims: tuple[int, ...], ttype: int, offset: int, data: int) -> bytes:
    info = _s("t") + struct.pack("<I", n_dims) + struct.pack(f"<{len(dims)}Q", *dims)
    info += struct.pack("<IQ", ttype, offset)
    header = _gguf([_kv("general.architecture", STR, "llama")], n_tensors=1, tail=info)
    return header + bytes(-len(header) % 32) + bytes(data)


FORGED.update(
    {
        "tensor n_dims 99": (_tensor_file(99, (4,), 0, 0, 64), "99 dimensions"),
        "tensor unknown type": (_tensor_file(1, (4,), 200, 0, 64), "unknown ggml type 200"),
        "tensor offset past end": (_tensor_file(1, (4,), 0, 2**40, 64), "truncated: tensor 't'"),
        "tensor 2^62 elements": (_tensor_file(2, (2**31, 2**31), 0, 0, 64), "too many elements"),
        "tensor data cut short": (_tensor_file(1, (64,), 0, 0, 100), "ends at byte"),
        "tensor misaligned": (_tensor_file(1, (4,), 0, 4, 64), "aligned"),
    }
)


@pytest.mark.parametrize("case", sorted(FORGED))
def test_forged_headers(tmp_path: Path, case: str) -> None:
    data, match = FORGED[case]
    path = tmp_path / "forged.gguf"
    path.write_bytes(data)
    _raises_fast(path, match)


def test_valid_tensor_file_passes(tmp_path: Path) -> None:
    path = tmp_path / "ok.gguf"
    path.write_bytes(_tensor_file(1, (64,), 0, 0, 256))
    info: ModelInfo = read_model_info(path)
    assert info.tensor_types == {"F32": 1}


def test_error_message_is_readable(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    path.touch()
    with pytest.raises(ModelFileError) as exc:
        read_model_info(path)
    assert str(exc.value).startswith(f"{path}: the model file is empty")
    assert "\n  fix: " in str(exc.value)


def test_mutated_headers_fail_cleanly(tiny: Path, tmp_path: Path) -> None:
    """Random byte flips in the header: a ModelInfo or a ModelFileError, nothing else."""
    rng = random.Random(1234)
    size = tiny.stat().st_size
    with tiny.open("rb") as f:
        head = f.read(8192)
    path = tmp_path / "mutant.gguf"
    for _ in range(40):
        data = bytearray(head)
        for _ in range(rng.choice((1, 2, 4))):
            data[rng.randrange(len(data))] = rng.randrange(256)
        with path.open("wb") as f:
            f.write(data)
            f.truncate(size)  # sparse tail: zeros where the rest of the header was
        try:
            read_model_info(path)
        except ModelFileError:
            pass
