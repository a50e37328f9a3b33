"""Model aliases and the local model store: `cl-lsp model pull|list|rm|path`.

An alias names a Code Llama GGUF on the Hugging Face Hub (`codellama-7b` ->
TheBloke/CodeLlama-7B-GGUF, file codellama-7b.Q4_K_M.gguf). `ALIAS:QUANT` or `--quant`
picks another quantization. A pull goes to the user cache dir (platformdirs; override
with $CL_LSP_MODELS_DIR):

    <models dir>/<org>--<repo>/<file>.gguf         the model, only once complete and checked
    <models dir>/<org>--<repo>/<file>.gguf.part    an interrupted download; the next pull resumes it
    <models dir>/<org>--<repo>/<file>.gguf.json    where it came from: repo, commit, sha256, size

Downloads use huggingface_hub (the optional `download` extra): its HEAD request gives the
commit, the LFS sha256 (X-Linked-Etag) and size (X-Linked-Size); its `http_get` streams the
file with a progress bar and a Range request from the end of the `.part` file. The finished
file is checked against both before it is renamed into place. $HF_ENDPOINT points at
another hub (a mirror, or a test server); $HF_TOKEN or `huggingface-cli login` for gated repos.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_QUANT = "Q4_K_M"  # the usual laptop trade-off: ~4.8 bits/weight, small quality loss
QUANTS = (
    "Q2_K",
    "Q3_K_S",
    "Q3_K_M",
    "Q3_K_L",
    "Q4_0",
    "Q4_K_S",
    "Q4_K_M",
    "Q5_0",
    "Q5_K_S",
    "Q5_K_M",
    "Q6_K",
    "Q8_0",
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ModelStoreError(Exception):
    """A pull, lookup or removal that cannot be done; `fix` says what to do."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


@dataclass(frozen=True)
class Alias:
    name: str
    repo: str
    stem: str  # file name without ".QUANT.gguf"
    params_b: int  # billions of parameters
    variant: str  # "base" | "python" | "instruct"
    # Trained with fill-in-the-middle (Code Llama paper: 7B/13B base and Instruct only).
    infill: bool
    # Quantizations that TheBloke split into several files (not supported here).
    split_quants: tuple[str, ...] = ()

    def filename(self, quant: str) -> str:
        return f"{self.stem}.{quant}.gguf"


def _family() -> dict[str, Alias]:
    aliases: dict[str, Alias] = {}
    for size in (7, 13, 34, 70):
        for variant in ("base", "python", "instruct"):
            name = f"codellama-{size}b" + ("" if variant == "base" else f"-{variant}")
            suffix = {"base": "", "python": "-Python", "instruct": "-Instruct"}[variant]
            repo = f"TheBloke/CodeLlama-{size}B{suffix}-GGUF"
            stem = name
            if size == 70 and variant == "base":
                repo, stem = "TheBloke/CodeLlama-70B-hf-GGUF", "codellama-70b-hf"
            aliases[name] = Alias(
                name,
                repo,
                stem,
                size,
                variant,
                infill=size in (7, 13) and variant != "python",
                split_quants=("Q6_K", "Q8_0") if size == 70 else (),
            )
    return aliases


ALIASES: dict[str, Alias] = _family()


@dataclass(frozen=True)
class Target:
    """One downloadable file: an alias at a quantization, or a plain REPO/FILE.gguf."""

    repo: str
    filename: str
    alias: str | None = None
    quant: str | None = None
    revision: str = "main"

    @property
    def label(self) -> str:
        return f"{self.alias}:{self.quant}" if self.alias else f"{self.repo}/{self.filename}"


def parse_target(spec: str, quant: str | None = None) -> Target:
    """`codellama-7b`, `codellama-7b:Q5_K_M` or `org/repo/file.gguf` (any hub GGUF)."""
    name, _, inline_quant = spec.strip().partition(":")
    if name.count("/") >= 2 and name.endswith(".gguf"):
        org, repo, filename = name.split("/", 2)
        return Target(f"{org}/{repo}", filename)
    alias = ALIASES.get(name.lower())
    if alias is None:
        raise ModelStoreError(
            f"Unknown model alias {name!r}.",
            "Run `cl-lsp model list` for the aliases, or give a hub file as ORG/REPO/FILE.gguf.",
        )
    q = (quant or inline_quant or DEFAULT_QUANT).upper()
    if q not in QUANTS:
        raise ModelStoreError(
            f"Unknown quantization {q!r} for {alias.name}.", f"Pick one of {', '.join(QUANTS)}."
        )
    if q in alias.split_quants:
        raise ModelStoreError(
            f"{alias.name} at {q} is published as several split files, which cl-lsp does not join.",
            "Pick Q5_K_M or smaller, e.g. --quant Q4_K_M.",
        )
    return Target(alias.repo, alias.filename(q), alias.name, q)


# ---------------------------------------------------------------------------- the store


def models_dir() -> Path:
    override = os.environ.get("CL_LSP_MODELS_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_path

    return user_cache_path("cl-lsp") / "models"


def target_path(target: Target, root: Path | None = None) -> Path:
    return (root or models_dir()) / target.repo.replace("/", "--") / target.filename


@dataclass(frozen=True)
class Installed:
    path: Path
    repo: str
    filename: str
    size: int
    sha256: str | None
    commit: str | None
    alias: str | None
    quant: str | None


def installed(root: Path | None = None) -> list[Installed]:
    """Complete downloads (a `.part` without its final file does not count)."""
    base = root or models_dir()
    found: list[Installed] = []
    if not base.is_dir():
        return found
    for path in sorted(base.glob("*/*.gguf")):
        meta: dict[str, object] = {}
        try:
            meta = json.loads(path.with_name(path.name + ".json").read_text("utf-8"))
        except (OSError, ValueError):
            pass
        alias, quant = _alias_of(path.parent.name.replace("--", "/", 1), path.name)
        found.append(
            Installed(
                path=path,
                repo=str(meta.get("repo") or path.parent.name.replace("--", "/", 1)),
                filename=path.name,
                size=path.stat().st_size,
                sha256=meta.get("sha256") if isinstance(meta.get("sha256"), str) else None,  # type: ignore[arg-type]
                commit=meta.get("commit") if isinstance(meta.get("commit"), str) else None,  # type: ignore[arg-type]
                alias=alias,
                quant=quant,
            )
        )
    return found


def _alias_of(repo: str, filename: str) -> tuple[str | None, str | None]:
    for alias in ALIASES.values():
        if alias.repo == repo and filename.startswith(alias.stem + "."):
            quant = filename[len(alias.stem) + 1 : -len(".gguf")]
            if quant in QUANTS:
                return alias.name, quant
    return None, None


def find_installed(spec: str, root: Path | None = None) -> Path | None:
    """The downloaded file for an alias (any quant: the default first) or REPO/FILE spec."""
    name, _, quant = spec.strip().partition(":")
    if quant or "/" in name:
        path = target_path(parse_target(spec), root)
        return path if path.is_file() else None
    if name.lower() not in ALIASES:
        parse_target(spec)  # raises the unknown-alias error
    matches = [m for m in installed(root) if m.alias == name.lower()]
    if not matches:
        return None
    matches.sort(key=lambda m: (m.quant != DEFAULT_QUANT, QUANTS.index(m.quant or DEFAULT_QUANT)))
    return matches[0].path


# ---------------------------------------------------------------------------- pulling

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


def _hub() -> tuple[Any, Any, Any, Any]:  # imported lazily: an optional dependency
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
        from huggingface_hub.file_download import http_get
        from huggingface_hub.utils import build_hf_headers
    except ImportError:
        raise ModelStoreError(
            "Downloading models needs the huggingface_hub package.",
            "Install it with `pip install 'cl-lsp[download]'` (or `pip install huggingface_hub`).",
        ) from None
    return get_hf_file_metadata, hf_hub_url, http_get, build_hf_headers


def _tqdm_class(progress: Progress | None) -> Any:
    """A tqdm that also reports to a callback (for $/progress or plain log lines); its bar
    is drawn on a terminal only. None: huggingface_hub's own bar."""
    if progress is None:
        return None
    from tqdm.auto import tqdm

    report: Progress = progress

    class Reporting(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = bool(kwargs.get("disable")) or not sys.stderr.isatty()
            super().__init__(*args, **kwargs)
            self._done = int(kwargs.get("initial") or 0)  # tqdm stops counting when disabled
            self._size = int(kwargs.get("total") or 0)

        def update(self, n: float | None = 1) -> bool | None:
            out = super().update(n)
            self._done += int(n or 0)
            report(self._done, self._size)
            return out

    return Reporting


def sha256_file(path: Path, chunk: int = 8 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def pull(
    target: Target,
    root: Path | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> Path:
    """Download (or resume) one file into the store; return its path once checked."""
    get_metadata, hub_url, http_get, build_headers = _hub()
    final = target_path(target, root)
    if final.is_file() and not force:
        return final
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    url = hub_url(target.repo, target.filename, revision=target.revision, endpoint=endpoint)
    try:
        meta = get_metadata(url, endpoint=endpoint)
    except Exception as error:  # HTTP errors, DNS, refused connections, gated repos
        raise ModelStoreError(
            f"Cannot reach {target.repo}/{target.filename} on {endpoint}: {_short(error)}",
            "Check the network (or $HF_ENDPOINT); for gated repos set $HF_TOKEN.",
        ) from error
    size, etag = meta.size, (meta.etag or "").strip('"')
    sha = etag if _SHA256.match(etag) else None
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    stamp = final.with_name(final.name + ".part.json")
    # A partial file of another version of the file must not be continued.
    if part.exists() and _read_json(stamp).get("etag") != etag:
        part.unlink()
    stamp.write_text(json.dumps({"etag": etag, "size": size}), "utf-8")
    done = part.stat().st_size if part.exists() else 0
    if size is not None and done > size:
        part.unlink()
        done = 0
    headers = build_headers()
    headers["Accept-Encoding"] = "identity"
    with part.open("ab") as handle:
        try:
            http_get(
                meta.location or url,
                handle,
                resume_size=done,
                headers=headers,
                expected_size=size,
                displayed_filename=target.filename,
                tqdm_class=_tqdm_class(progress),
            )
        except KeyboardInterrupt:
            raise ModelStoreError(
                f"Interrupted; {part} keeps what was downloaded.",
                f"Run `cl-lsp model pull {target.label}` again to resume.",
            ) from None
        except Exception as error:
            raise ModelStoreError(
                f"Download of {target.label} failed: {_short(error)}",
                f"Run `cl-lsp model pull {target.label}` again to resume.",
            ) from error
    got = part.stat().st_size
    if size is not None and got != size:
        raise ModelStoreError(
            f"Downloaded {got:,} bytes of {target.label}, the hub says {size:,}.",
            "Run the pull again; `cl-lsp model rm` first to start over.",
        )
    actual = sha256_file(part)
    if sha is not None and actual != sha:
        part.unlink()
        raise ModelStoreError(
            f"Checksum mismatch for {target.label}: got sha256 {actual}, the hub says {sha}.",
            "The partial file was removed; run the pull again.",
        )
    os.replace(part, final)
    stamp.unlink(missing_ok=True)
    record = {
        "repo": target.repo,
        "filename": target.filename,
        "revision": target.revision,
        "commit": meta.commit_hash,
        "sha256": actual,
        "verified": sha is not None,
        "size": got,
        "alias": target.alias,
        "quant": target.quant,
        "endpoint": endpoint,
        "downloaded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    final.with_name(final.name + ".json").write_text(json.dumps(record, indent=2), "utf-8")
    return final


def remove(spec: str, root: Path | None = None) -> list[Path]:
    """Delete an alias's downloads (all quants unless one is named) and partial files."""
    name, _, quant = spec.strip().partition(":")
    targets: list[Path]
    if quant or "/" in name:
        final = target_path(parse_target(spec), root)
        targets = [final]
    else:
        parse_target(spec)
        base = root or models_dir()
        alias = ALIASES[name.lower()]
        folder = base / alias.repo.replace("/", "--")
        targets = sorted(folder.glob(alias.stem + ".*.gguf")) + sorted(
            p.with_suffix("") for p in folder.glob(alias.stem + ".*.gguf.part")
        )
    removed: list[Path] = []
    for final in dict.fromkeys(targets):
        for suffix in ("", ".json", ".part", ".part.json"):
            path = final.with_name(final.name + suffix)
            if path.exists():
                path.unlink()
                removed.append(path)
        try:
            final.parent.rmdir()  # only when empty
        except OSError:
            pass
    return removed


def _read_json(path: Path) -> dict[str, object]:
    try:
        value = json.loads(path.read_text("utf-8"))
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


# ---------------------------------------------------------------------------- the CLI


def command(args: argparse.Namespace) -> int:
    """`cl-lsp model ...`; messages on stderr, machine-readable output on stdout."""
    try:
        if args.model_command == "pull":
            target = parse_target(args.alias, args.quant)
            dest = target_path(target)
            print(f"pulling {target.label} from {target.repo} into {dest}", file=sys.stderr)
            path = pull(target, force=args.force, progress=_plain_progress())
            print(path)
            alias = ALIASES.get(target.alias or "")
            if alias is not None and not alias.infill:
                print(
                    f"note: {alias.name} has no infilling tokens; completions see the prefix only",
                    file=sys.stderr,
                )
            return 0
        if args.model_command == "path":
            found = find_installed(args.alias)
            if found is None:
                print(
                    f"cl-lsp: {args.alias} is not downloaded; run `cl-lsp model pull {args.alias}`",
                    file=sys.stderr,
                )
                return 1
            print(found)
            return 0
        if args.model_command == "rm":
            removed = remove(args.alias)
            if not removed:
                print(f"cl-lsp: nothing to remove for {args.alias}", file=sys.stderr)
                return 1
            for path in removed:
                print(f"removed {path}", file=sys.stderr)
            return 0
        return _list(getattr(args, "all", False))
    except ModelStoreError as error:
        print(
            f"cl-lsp: {error.message}" + (f"\n  fix: {error.fix}" if error.fix else ""),
            file=sys.stderr,
        )
        return 1


def _plain_progress() -> Progress | None:
    """On a terminal huggingface_hub draws a bar; elsewhere (a log, an editor's task
    output) print a line at every tenth of the file instead."""
    if sys.stderr.isatty():
        return None
    last = [-1]

    def report(done: int, total: int) -> None:
        step = done * 10 // total if total else 0
        if step != last[0]:
            last[0] = step
            print(f"{step * 10}% ({_size(done)} of {_size(total)})", file=sys.stderr, flush=True)

    return report


def _list(show_all: bool) -> int:
    have = installed()
    by_alias: dict[str, list[Installed]] = {}
    for item in have:
        by_alias.setdefault(item.alias or "", []).append(item)
    print(f"models dir: {models_dir()}")
    print(f"{'alias':<24} {'infill':<7} {'downloaded':<28} repository / file")
    for alias in ALIASES.values():
        got = by_alias.get(alias.name, [])
        if not got and not show_all and have:
            continue
        local = ", ".join(f"{i.quant} ({_size(i.size)})" for i in got) or "-"
        print(
            f"{alias.name:<24} {'yes' if alias.infill else 'no':<7} {local:<28} "
            f"{alias.repo}/{alias.filename(DEFAULT_QUANT)}"
        )
    for item in by_alias.get("", []):
        print(f"{'-':<24} {'?':<7} {_size(item.size):<28} {item.repo}/{item.filename}")
    if have and not show_all:
        print("(`cl-lsp model list --all` shows every alias)")
    return 0
