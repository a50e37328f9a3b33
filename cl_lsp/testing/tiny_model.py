"""A tiny, random-weight model with Code Llama's token layout, for tests and benchmarks.

Its output is noise, but everything the server depends on is real: llama.cpp loads it,
the SentencePiece tokenizer behaves like Code Llama's (byte fallback, `▁` word pieces),
the FIM tokens `▁<PRE> ▁<SUF> ▁<MID> ▁<EOT>` sit at ids 32007-32010 as control tokens,
and prefill/generation/cancellation timings scale like a (very small) real model.

What llama.cpp detects in it is in FINDINGS below (checked by tests/unit/test_tiny_model.py).

`gguf` and `numpy` are imported inside the functions: importing this module is free.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "CODELLAMA_VOCAB_SIZE",
    "FIM_IDS",
    "FINDINGS",
    "cached_tiny_codellama",
    "make_tiny_codellama",
]

CODELLAMA_VOCAB_SIZE = 32016
FIM_IDS = {"pre": 32007, "suf": 32008, "mid": 32009, "eot": 32010}
_FIM_TEXTS = {"pre": "▁<PRE>", "suf": "▁<SUF>", "mid": "▁<MID>", "eot": "▁<EOT>"}
BOS_ID, EOS_ID, UNK_ID = 1, 2, 0

# Bump when the generated file changes, so cached copies are rebuilt.
_CONTENT_VERSION = 1

FINDINGS = """\
llama.cpp as bundled with llama-cpp-python 0.3.36, on this model (checked by tests):
- without fim_* keys (default): llama_vocab_fim_pre/suf/mid -> 32007/32008/32009, found
  by token text; llama_vocab_fim_pad/rep/sep -> -1; llama_vocab_eot -> -1, and
  llama_vocab_is_eog(32010) is False: llama.cpp will NOT stop at ▁<EOT> by itself, so the
  engine must stop on ModelInfo.stop_ids (gguf_info finds ▁<EOT> by text).
- with fim_keys=True: the same FIM ids, and llama_vocab_eot -> 32010, is_eog(32010) True.
- fim=False: all FIM ids -1; "▁<PRE>" in text tokenizes as ordinary pieces.
- tokenize(text) adds SentencePiece's leading "▁"; detokenize returns " " + text.
"""

# Pieces an ordinary tokenizer would have, so code tokenizes to a plausible length.
_WORDS = """
def return self if else elif for while in is not and or None True False class import from
as with try except finally raise yield lambda pass break continue global nonlocal assert
del async await print len range list dict set tuple str int float bool object type super
init name main value values key keys items item data result results args kwargs function
const let var new this null undefined typeof instanceof export default require module
public private protected static void final int long char double string String struct enum
func package fn mut impl use pub match where unsafe trait include define ifdef endif
get set add remove update create delete find open close read write path file line lines
text size count index start end left right node next prev head tail parent child children
error message test assert_equal expected actual self_ append extend join split strip
format replace lower upper sum min max sorted reversed enumerate zip map filter isinstance
Exception ValueError TypeError KeyError RuntimeError Optional List Dict Any Union Path
numpy np pandas pd os sys re json time math random logging logger config options
""".split()

_SYMBOL_PIECES = """
() (): ): ( ) [] {} [ ] { } == != <= >= -> => += -= *= /= ** // /* */ :: __ ''' \"\"\" ,
. : ; = + - * / % < > ! & | ^ ~ ? @ # $ \\ ' \" ` ._ .( (self self. self, ):\n
0 1 2 3 4 5 6 7 8 9 10 100 0. 1. 00 ==0 __init__ __name__ __main__ 'utf-8'
""".split()


def _pieces() -> list[str]:
    """Normal vocabulary pieces, most useful first (earlier = higher merge score)."""
    pieces: dict[str, None] = {"▁": None}
    for c in range(33, 127):
        pieces[chr(c)] = None
        pieces["▁" + chr(c)] = None
    for n in range(2, 17):  # indentation runs, as in Code Llama's vocab
        pieces["▁" * n] = None
    for sym in _SYMBOL_PIECES:
        pieces[sym] = None
        pieces["▁" + sym] = None
    for word in _WORDS:
        for w in (word, "▁" + word):
            for end in range(2, len(w) + 1):  # every prefix, so SPM merges can reach w
                pieces[w[:end]] = None
    return list(pieces)


def _vocab(fim: bool) -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types laid out like Code Llama's 32016-token vocab."""
    from gguf import TokenType

    tokens = ["<unk>", "<s>", "</s>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    scores = [0.0] * len(tokens)
    for i, piece in enumerate(_pieces()):
        tokens.append(piece)
        types.append(TokenType.NORMAL)
        scores.append(-float(i))
    fim_ids = {v: k for k, v in FIM_IDS.items()} if fim else {}
    filler = 0
    while len(tokens) < CODELLAMA_VOCAB_SIZE:
        if len(tokens) in fim_ids:
            tokens.append(_FIM_TEXTS[fim_ids[len(tokens)]])
            types.append(TokenType.CONTROL)
            scores.append(0.0)
            continue
        tokens.append(f"<unused{filler}>")  # unreachable: no piece starts with "<u"
        types.append(TokenType.NORMAL)
        scores.append(-1e6 - filler)
        filler += 1
    return tokens, scores, [int(t) for t in types]


def _write_tensors(writer: Any, p: dict[str, Any]) -> None:
    import numpy as np

    rng = np.random.default_rng(p["seed"])
    wtype = np.float16 if p["f16"] else np.float32
    n_embd, n_ff, n_vocab = p["n_embd"], p["n_ff"], p.get("n_vocab", CODELLAMA_VOCAB_SIZE)
    n_embd_kv = n_embd // p["n_head"] * p["n_head_kv"]

    def weight(rows: int, cols: int) -> Any:  # numpy (rows, cols) is ggml ne = [cols, rows]
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(wtype)

    def ones(n: int) -> Any:
        return np.ones(n, dtype=np.float32)  # norms stay f32, as llama.cpp converts them

    favor = p.get("favor_token")
    embd = weight(n_vocab, n_embd)
    if favor is not None:  # every hidden state positive: see _favor
        embd = (np.abs(embd) + 0.01).astype(wtype)
    writer.add_tensor("token_embd.weight", embd)
    for i in range(p["n_layer"]):
        b = f"blk.{i}."
        writer.add_tensor(b + "attn_norm.weight", ones(n_embd))
        writer.add_tensor(b + "attn_q.weight", weight(n_embd, n_embd))
        writer.add_tensor(b + "attn_k.weight", weight(n_embd_kv, n_embd))
        writer.add_tensor(b + "attn_v.weight", weight(n_embd_kv, n_embd))
        writer.add_tensor(b + "attn_output.weight", _favor(weight(n_embd, n_embd), favor))
        writer.add_tensor(b + "ffn_norm.weight", ones(n_embd))
        writer.add_tensor(b + "ffn_gate.weight", weight(n_ff, n_embd))
        writer.add_tensor(b + "ffn_up.weight", weight(n_ff, n_embd))
        writer.add_tensor(b + "ffn_down.weight", _favor(weight(n_embd, n_ff), favor))
    writer.add_tensor("output_norm.weight", ones(n_embd))
    output = weight(n_vocab, n_embd)
    if favor is not None:
        output[favor] = 1.0
    writer.add_tensor("output.weight", output)


def _favor(w: Any, favor: int | None) -> Any:
    """`favor_token`: a model that always predicts that token (to test stops in a real
    generation). Zero layer outputs leave the residual stream at the (positive) token
    embedding, so the all-ones output row of `favor` wins every argmax."""
    return w * 0 if favor is not None else w


def _write_metadata(writer: Any, p: dict[str, Any]) -> None:
    writer.add_name("tiny-codellama" + ("" if p["fim"] else "-nofim"))
    write_hparams(writer, p, CODELLAMA_VOCAB_SIZE)
    _write_vocab(writer, p)


def write_hparams(writer: Any, p: dict[str, Any], n_vocab: int) -> None:
    """The llama-architecture hyperparameters (real_vocab.py reuses them)."""
    writer.add_file_type(1 if p["f16"] else 0)  # LLAMA_FTYPE_MOSTLY_F16 / ALL_F32
    writer.add_context_length(p["context_length"])
    writer.add_embedding_length(p["n_embd"])
    writer.add_block_count(p["n_layer"])
    writer.add_feed_forward_length(p["n_ff"])
    writer.add_head_count(p["n_head"])
    writer.add_head_count_kv(p["n_head_kv"])
    writer.add_rope_dimension_count(p["n_embd"] // p["n_head"])
    writer.add_rope_freq_base(p["rope_freq_base"])
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)


def _write_vocab(writer: Any, p: dict[str, Any]) -> None:
    from gguf import Keys

    tokens, scores, types = _vocab(p["fim"])
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(BOS_ID)
    writer.add_eos_token_id(EOS_ID)
    writer.add_unk_token_id(UNK_ID)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(True)
    if p["fim"] and p["fim_keys"]:
        # GGUFWriter has no add_fim_* helpers (gguf 0.19): write the raw keys.
        writer.add_uint32(Keys.Tokenizer.FIM_PRE_ID, FIM_IDS["pre"])
        writer.add_uint32(Keys.Tokenizer.FIM_SUF_ID, FIM_IDS["suf"])
        writer.add_uint32(Keys.Tokenizer.FIM_MID_ID, FIM_IDS["mid"])
        writer.add_eot_token_id(FIM_IDS["eot"])


def build_model(path: Path, p: dict[str, Any], metadata: Any = None) -> Path:
    """Write a tiny random-weight model with parameters `p` (see make_tiny_codellama);
    `metadata(writer, p)` writes the name, hyperparameters and vocabulary instead of the
    Code Llama-layout ones (then `p["n_vocab"]` sizes the embeddings)."""
    return _build(Path(path), p, metadata)


def tiny_params(**kwargs: Any) -> dict[str, Any]:
    """make_tiny_codellama's defaults, overridden by `kwargs` (checked)."""
    unknown = set(kwargs) - set(_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown parameters: {sorted(unknown)}")
    return _params(**{**_DEFAULTS, **kwargs})


def _params(**kw: Any) -> dict[str, Any]:
    p = dict(kw)
    if p["n_head_kv"] is None:
        p["n_head_kv"] = p["n_head"]
    if p["n_embd"] % p["n_head"] or p["n_head"] % p["n_head_kv"]:
        raise ValueError("n_embd must divide by n_head, and n_head by n_head_kv")
    return p


def make_tiny_codellama(
    path: Path,
    *,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_head_kv: int | None = None,
    n_ff: int = 128,
    context_length: int = 16384,
    rope_freq_base: float = 1e6,
    seed: int = 0,
    fim: bool = True,
    fim_keys: bool = False,
    f16: bool = True,
) -> Path:
    """Write a tiny llama-architecture GGUF with Code Llama's vocab layout to `path`.

    `fim=False` leaves the FIM tokens out (for prefix-only mode). `fim_keys=True` also
    writes the `tokenizer.ggml.fim_*_token_id` and `eot_token_id` keys; off by default
    because Code Llama GGUFs in the wild mostly lack them, so tests exercise detection
    by token text. The file is written to a temporary name and renamed into place.
    """
    p = _params(
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=n_head_kv,
        n_ff=n_ff,
        context_length=context_length,
        rope_freq_base=rope_freq_base,
        seed=seed,
        fim=fim,
        fim_keys=fim_keys,
        f16=f16,
    )
    return _build(Path(path), p)


def _build(path: Path, p: dict[str, Any], metadata: Any = None) -> Path:
    """Write the model; `metadata(writer, p)` replaces the Code Llama-layout metadata."""
    from gguf import GGUFWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer = GGUFWriter(tmp, "llama")
        (metadata or _write_metadata)(writer, p)
        _write_tensors(writer, p)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, path)  # atomic: concurrent test workers never see half a file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


_DEFAULTS: dict[str, Any] = {
    "n_layer": 2,
    "n_embd": 64,
    "n_head": 4,
    "n_head_kv": None,
    "n_ff": 128,
    "context_length": 16384,
    "rope_freq_base": 1e6,
    "seed": 0,
    "fim": True,
    "fim_keys": False,
    "f16": True,
}


def cached_tiny_codellama(cache_dir: Path, **kwargs: Any) -> Path:
    """Like make_tiny_codellama, but built once per parameter set into `cache_dir`."""
    p = tiny_params(**kwargs)
    blob = json.dumps({"v": _CONTENT_VERSION, **p}, sort_keys=True).encode()
    digest = hashlib.sha256(blob).hexdigest()[:16]
    path = Path(cache_dir) / f"tiny-codellama-{digest}.gguf"
    if path.is_file() and path.stat().st_size > 0:
        return path
    return _build(path, p)
