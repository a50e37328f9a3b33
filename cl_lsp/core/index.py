"""The workspace index: tags of every indexable file, kept fresh and cached on disk.

A scan walks the workspace with the same filters the watcher applies (`should_index`):
.gitignore files (nested too), extra ignore globs, well-known vendor/build folders, secrets
(never opened), links out of the workspace (never followed), binary, minified, generated and
oversized files. Tags are cached in SQLite by content hash, and files by (mtime, size), so a
warm scan stats files without reading them and re-parses only what changed.
"""

from __future__ import annotations

import logging
import os
import re
import stat as stat_mod
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import tree_sitter as ts

from cl_lsp.core import languages
from cl_lsp.core.filters import (
    SECRET_DIRS,
    SKIP_DIRS,
    IgnoreRules,
    content_skip_reason,
    is_secret_path,
    normpath,
    parse_gitignore,
    read_bytes,
    read_text,
)
from cl_lsp.core.imports import RESOLVERS, Resolver
from cl_lsp.core.index_cache import TagsCache, tags_from_json, tags_to_json
from cl_lsp.core.symbols import Definition, FileTags, Import
from cl_lsp.core.tags import content_hash, extract_tags

_log = logging.getLogger(__name__)


def _cache_key(digest: str, language: str) -> str:
    return f"{digest}:{language}"


class RepositoryIndex:
    """Tags of every indexable file under `root`; thread-safe lookups and updates."""

    def __init__(
        self,
        root: Path,
        cache_dir: Path | None,
        ignore: Sequence[str] = (),
        max_file_bytes: int = 1_000_000,
    ) -> None:
        self.root = Path(root)
        self._root_real = os.path.realpath(self.root)
        self.max_file_bytes = max_file_bytes
        self._extra = IgnoreRules()  # the caller's globs, gitignore syntax, from the root
        self._extra.set_rules("", parse_gitignore("\n".join(ignore)))
        self._rules = IgnoreRules()
        self._lock = threading.RLock()
        self._scan_lock = threading.Lock()  # one scan at a time; lookups go on meanwhile
        self._disk: dict[str, FileTags] = {}
        self._buffers: dict[str, FileTags] = {}
        self._names: dict[str, set[str]] = {}  # definition name -> paths defining it
        # File-name and folder tables for import resolution, plus a memo of its answers
        # that lives until the set of files changes (edits inside files keep it).
        self._by_basename: dict[str, set[str]] = {}
        self._by_dir: dict[str, set[str]] = {}
        self._resolved: dict[tuple[str, str, tuple[str, ...], str], str | None] = {}
        self._go_module: str | None = None  # from go.mod, read when first needed
        self._skipped: Counter[str] = Counter()
        self.parse_count = 0  # files parsed by this instance (tests and stats)
        self.reused_count = 0  # files whose tags came from the cache
        self.last_scan_seconds = 0.0
        self._load_root_rules()
        db_path = None
        if cache_dir is not None:
            cache_dir = Path(cache_dir)
            try:
                cache_dir.mkdir(parents=True, exist_ok=True)
                name = f"index-{content_hash(self._root_real.encode())[:16]}.sqlite3"
                db_path = cache_dir / name  # one file per workspace root
            except OSError as exc:
                _log.warning("index cache off (%s): %s", cache_dir, exc)
        self._cache = TagsCache(db_path)

    # -- filters ------------------------------------------------------------------------

    def _load_root_rules(self) -> None:
        exclude = self.root / ".git" / "info" / "exclude"
        text = read_text(exclude) or ""
        text += "\n" + (read_text(self.root / ".gitignore") or "")
        with self._lock:
            self._rules.set_rules("", parse_gitignore(text))

    def _load_dir_rules(self, dir_rel: str) -> None:
        if dir_rel:
            text = read_text(self.root / dir_rel / ".gitignore")
            with self._lock:
                self._rules.set_rules(dir_rel, parse_gitignore(text or ""))

    def _path_excluded(self, rel_path: str, is_dir: bool) -> str | None:
        """Why this one path (not its parents) is excluded, or None."""
        name = rel_path.rsplit("/", 1)[-1]
        if is_dir and name in SKIP_DIRS:
            return "skip_dir"
        if is_dir and name.endswith(".egg-info"):
            return "skip_dir"
        # A folder is secret by its own name (.ssh); file patterns (credentials*) are for files.
        secret = name.lower() in SECRET_DIRS if is_dir else is_secret_path(rel_path)
        if secret:
            return "secret"
        if self._extra.ignored(rel_path, is_dir):
            return "ignored"
        if self._rules.ignored(rel_path, is_dir):
            return "gitignore"
        return None

    def should_index(self, rel_path: str) -> bool:
        """The path filters of a scan, for one file (the watcher calls this)."""
        rel_path = _norm(rel_path)
        return languages.detect(rel_path) is not None and self.path_allowed(rel_path)

    def path_allowed(self, rel_path: str) -> bool:
        """Every path filter but the language: folders, secrets, ignores, gitignore."""
        if not rel_path or normpath(rel_path) != rel_path:
            return False  # empty, or `..` leaving the workspace
        if is_secret_path(rel_path):
            return False
        parts = rel_path.split("/")
        with self._lock:
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                if self._path_excluded(parent, is_dir=True):
                    return False
                if not self._rules.has_rules(parent):
                    self._load_dir_rules(parent)
            return self._path_excluded(rel_path, is_dir=False) is None

    # -- scanning -----------------------------------------------------------------------

    def scan(
        self,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """Index the whole workspace; a warm cache makes unchanged files cost one stat."""
        with self._scan_lock:
            self._scan(progress, cancel)

    def _scan(
        self,
        progress: Callable[[int, int], None] | None,
        cancel: threading.Event | None,
    ) -> None:
        started = time.perf_counter()
        with self._lock:
            self._skipped.clear()
            self._go_module = None
            self._load_root_rules()
        candidates = list(self._walk(cancel))
        known = self._cache.load_files()
        total = len(candidates)
        seen: set[str] = set()
        pending_tags: dict[str, str] = {}  # written in batches; also a memo for copies
        pending_files: list[tuple[str, int, int, str]] = []
        for done, (rel, abs_path, st) in enumerate(candidates, 1):
            if cancel is not None and cancel.is_set():
                break
            if self._index_candidate(
                rel, abs_path, st, known.get(rel), pending_tags, pending_files
            ):
                seen.add(rel)
            if len(pending_files) >= 200:
                self._cache.write(list(pending_tags.items()), pending_files, [])
                pending_tags, pending_files = {}, []
            if progress is not None:
                progress(done, total)
        self._cache.write(list(pending_tags.items()), pending_files, [])
        if cancel is None or not cancel.is_set():
            with self._lock:
                for rel in [p for p in self._disk if p not in seen]:
                    self._set_disk(rel, None)
            self._cache.prune(seen)
        self.last_scan_seconds = time.perf_counter() - started

    def _walk(self, cancel: threading.Event | None) -> Iterator[tuple[str, str, os.stat_result]]:
        """(rel_path, abs_path, stat) of files passing the path filters, depth first."""
        visited: set[str] = set()
        stack: list[tuple[str, str]] = [("", str(self.root))]
        while stack:
            if cancel is not None and cancel.is_set():
                return
            dir_rel, dir_abs = stack.pop()
            real = os.path.realpath(dir_abs)
            if real in visited or not _inside(real, self._root_real):
                self._skip("symlink" if real in visited else "outside_root")
                continue
            visited.add(real)
            self._load_dir_rules(dir_rel)
            try:
                with os.scandir(dir_abs) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                self._skip("error")
                continue
            subdirs: list[tuple[str, str]] = []
            for entry in entries:
                rel = f"{dir_rel}/{entry.name}" if dir_rel else entry.name
                item = self._classify(entry, rel)
                if isinstance(item, str):
                    subdirs.append((rel, entry.path))
                elif item is not None:
                    yield rel, entry.path, item
            stack.extend(reversed(subdirs))

    def _classify(self, entry: os.DirEntry[str], rel: str) -> os.stat_result | str | None:
        """'dir' for a folder to descend, a stat for a file to index, None to skip."""
        try:
            if not entry.is_dir() and is_secret_path(rel):  # by name: never even stat it
                self._skip("secret")
                return None
            is_link = entry.is_symlink()
            st = entry.stat(follow_symlinks=True)
        except OSError:  # dangling link, deleted meanwhile, no permission
            self._skip("error")
            return None
        is_dir = stat_mod.S_ISDIR(st.st_mode)
        if not is_dir and not stat_mod.S_ISREG(st.st_mode):
            return None
        reason = self._path_excluded(rel, is_dir)
        if reason is not None:
            self._skip(reason)
            return None
        if is_link and not _inside(os.path.realpath(entry.path), self._root_real):
            self._skip("outside_root")
            return None
        if is_dir:
            return "dir"
        if languages.detect(rel) is None:
            return None
        if st.st_size > self.max_file_bytes:
            self._skip("too_large")
            return None
        return st

    def _skip(self, reason: str) -> None:
        with self._lock:
            self._skipped[reason] += 1

    def _index_candidate(
        self,
        rel: str,
        abs_path: str,
        st: os.stat_result,
        known: tuple[int, int, str] | None,
        pending_tags: dict[str, str],
        pending_files: list[tuple[str, int, int, str]],
    ) -> bool:
        if known is not None and known[0] == st.st_mtime_ns and known[1] == st.st_size:
            data = self._cache.get_tags(known[2])
            if data is not None:  # unchanged since the last scan: no read, no parse
                digest, _, language = known[2].partition(":")
                with self._lock:
                    self._set_disk(rel, tags_from_json(data, rel, language, digest))
                    self.reused_count += 1
                return True
        source = read_bytes(abs_path)
        if source is None:
            self._skip("error")
            return False
        language = _language(rel, source)
        tags = self._tags_for(rel, language, source, pending_tags)
        if tags is None:
            return False
        pending_files.append(
            (rel, st.st_mtime_ns, st.st_size, _cache_key(tags.content_hash, language))
        )
        with self._lock:
            self._set_disk(rel, tags)
        return True

    def _tags_for(
        self, rel: str, language: str, source: bytes, pending_tags: dict[str, str]
    ) -> FileTags | None:
        """Tags of one file version: from the cache by content hash, else parsed."""
        reason = content_skip_reason(source)
        if reason is not None:
            self._skip(reason)
            return None
        digest = content_hash(source)
        key = _cache_key(digest, language)
        data = pending_tags.get(key) or self._cache.get_tags(key)
        if data is not None:
            with self._lock:
                self.reused_count += 1
            return tags_from_json(data, rel, language, digest)
        tags = extract_tags(rel, language, source)
        with self._lock:
            self.parse_count += 1
        pending_tags[key] = tags_to_json(tags)
        return tags

    # -- updates ------------------------------------------------------------------------

    def update_file(self, rel_path: str, source: bytes | None) -> bool:
        """A file changed on disk (None: deleted). Returns whether it is indexed now."""
        rel_path = _norm(rel_path)
        if rel_path in ("go.mod", ".git/info/exclude"):
            with self._lock:
                self._go_module = None
                self._resolved.clear()
                self._load_root_rules()
        if rel_path.endswith(".gitignore"):
            with self._lock:
                self._resolved.clear()
                if "/" in rel_path:
                    self._load_dir_rules(rel_path.rsplit("/", 1)[0])
                else:
                    self._load_root_rules()
        if source is None or not self.should_index(rel_path) or (len(source) > self.max_file_bytes):
            with self._lock:
                self._set_disk(rel_path, None)
            self._cache.write([], [], [rel_path])
            return False
        pending: dict[str, str] = {}
        tags = self._tags_for(rel_path, _language(rel_path, source), source, pending)
        files: list[tuple[str, int, int, str]] = []
        if tags is not None:
            try:
                st = os.stat(self.root / rel_path)
                if st.st_size == len(source):
                    key = _cache_key(tags.content_hash, tags.language)
                    files.append((rel_path, st.st_mtime_ns, st.st_size, key))
            except OSError:
                pass
        self._cache.write(list(pending.items()), files, [] if files else [rel_path])
        with self._lock:
            self._set_disk(rel_path, tags)
        return tags is not None

    def update_text(
        self, rel_path: str, text: str, language: str | None = None, tree: ts.Tree | None = None
    ) -> bool:
        """An open editor buffer: overrides the file on disk until `drop_text`.

        `language` is one of our language names or an LSP languageId; `tree` may be the
        caller's (incrementally parsed) tree of exactly this text. Returns whether indexed.
        """
        rel_path = _norm(rel_path)
        spec = languages.spec_by_name(language or "") or languages.detect(rel_path, language)
        if spec is None or not self.path_allowed(rel_path):
            return False
        source = text.encode("utf-8", "surrogatepass")
        if len(source) > self.max_file_bytes or content_skip_reason(source) is not None:
            self.drop_text(rel_path)
            return False
        with self._lock:
            old = self._buffers.get(rel_path)
        if (
            old is not None
            and old.language == spec.name
            and old.content_hash == content_hash(source)
        ):
            return True  # e.g. didSave or a no-op change: nothing to re-tag
        tags = extract_tags(rel_path, spec.name, source, tree)
        with self._lock:
            self.parse_count += 1
            self._set_buffer(rel_path, tags)
        return True

    def drop_text(self, rel_path: str) -> None:
        """The buffer was closed: the file on disk counts again."""
        with self._lock:
            self._set_buffer(_norm(rel_path), None)

    def _set_disk(self, rel: str, tags: FileTags | None) -> None:
        old = self._effective(rel)
        if tags is None:
            self._disk.pop(rel, None)
        else:
            self._disk[rel] = tags
        self._reindex_names(rel, old)

    def _set_buffer(self, rel: str, tags: FileTags | None) -> None:
        old = self._effective(rel)
        if tags is None:
            self._buffers.pop(rel, None)
        else:
            self._buffers[rel] = tags
        self._reindex_names(rel, old)

    def _effective(self, rel: str) -> FileTags | None:
        return self._buffers.get(rel) or self._disk.get(rel)

    def _reindex_names(self, rel: str, old: FileTags | None) -> None:
        new = self._effective(rel)
        if (old is None) != (new is None):
            self._track_path(rel, present=new is not None)
        if old is not None:
            for d in old.definitions:
                paths = self._names.get(d.name)
                if paths is not None:
                    paths.discard(rel)
                    if not paths:
                        del self._names[d.name]
        if new is not None:
            for d in new.definitions:
                self._names.setdefault(d.name, set()).add(rel)

    def _track_path(self, rel: str, present: bool) -> None:
        self._resolved.clear()
        folder, _, name = rel.rpartition("/")
        for table, key in ((self._by_basename, name), (self._by_dir, folder)):
            if present:
                table.setdefault(key, set()).add(rel)
            else:
                paths = table.get(key)
                if paths is not None:
                    paths.discard(rel)
                    if not paths:
                        del table[key]

    # -- lookups ------------------------------------------------------------------------

    def is_secret_path(self, rel_path: str) -> bool:
        return is_secret_path(rel_path)

    def file_tags(self, rel_path: str) -> FileTags | None:
        with self._lock:
            return self._effective(_norm(rel_path))

    def files(self) -> list[str]:
        with self._lock:
            return sorted(set(self._disk) | set(self._buffers))

    def definitions_named(self, name: str) -> list[Definition]:
        with self._lock:
            paths = sorted(self._names.get(name, ()))
            found: list[Definition] = []
            for rel in paths:
                tags = self._effective(rel)
                if tags is not None:
                    found.extend(d for d in tags.definitions if d.name == name)
            return found

    def top_level_api(self, rel_path: str) -> list[Definition]:
        """Top-level definitions and the members of top-level classes (not locals)."""
        tags = self.file_tags(rel_path)
        if tags is None:
            return []
        functions = {
            f"{d.scope}.{d.name}" if d.scope else d.name
            for d in tags.definitions
            if d.kind in ("function", "method")
        }
        api: list[Definition] = []
        for d in tags.definitions:
            parts = d.scope.split(".") if d.scope else []
            prefixes = {".".join(parts[: i + 1]) for i in range(len(parts))}
            if not prefixes & functions:
                api.append(d)
        return api

    def stats(self) -> dict[str, object]:
        with self._lock:
            tags = [self._effective(p) for p in set(self._disk) | set(self._buffers)]
            return {
                "files": len(tags),
                "definitions": sum(len(t.definitions) for t in tags if t is not None),
                "buffers": len(self._buffers),
                "skipped": dict(sorted(self._skipped.items())),
                "parsed": self.parse_count,
                "reused": self.reused_count,
                "scan_seconds": round(self.last_scan_seconds, 3),
            }

    def close(self) -> None:
        self._cache.close()

    # -- import resolution --------------------------------------------------------------
    # Path queries the per-language resolvers (core/imports.py) ask; callers may hold the
    # lock already (it is reentrant).

    def has_file(self, rel_path: str) -> bool:
        with self._lock:
            return rel_path in self._disk or rel_path in self._buffers

    def files_named(self, basename: str) -> frozenset[str]:
        """Indexed files with this file name, in any folder."""
        with self._lock:
            return frozenset(self._by_basename.get(basename, ()))

    def files_in_folder(self, folder: str) -> frozenset[str]:
        """Indexed files directly inside `folder` ("" is the root)."""
        with self._lock:
            return frozenset(self._by_dir.get(folder, ()))

    def folders(self) -> list[str]:
        """Every folder that directly holds an indexed file."""
        with self._lock:
            return list(self._by_dir)

    def go_module(self) -> str:
        """The module path declared in the root's go.mod ("" without one); read once."""
        with self._lock:
            if self._go_module is None:
                text = read_text(self.root / "go.mod") or ""
                match = re.search(r"^module\s+(\S+)", text, re.MULTILINE)
                self._go_module = match.group(1) if match else ""
            return self._go_module

    def resolve_import(self, from_path: str, imp: Import) -> str | None:
        """The workspace file an import refers to, or None (stdlib, packages, unknown)."""
        from_path = _norm(from_path)
        tags = self.file_tags(from_path)
        language = tags.language if tags is not None else _language(from_path)
        resolver = RESOLVERS.get(language or "")
        if resolver is None or not imp.module:
            return None
        key = (from_path, imp.module, imp.names, imp.text)
        with self._lock:
            if key in self._resolved:
                return self._resolved[key]
            found = resolver(Resolver(self, from_path), imp)
            if len(self._resolved) > 20_000:
                self._resolved.clear()
            self._resolved[key] = found
            return found


# ---------------------------------------------------------------------------------------
# Small helpers


def _norm(rel_path: str) -> str:
    return rel_path.replace("\\", "/").lstrip("/").removeprefix("./")


# C++ in a `.h` header (most C++ projects): the C grammar would miss classes and namespaces.
_CPP_HEADER_RE = re.compile(
    rb"^[ \t]*(namespace[ \t]+\w+|template[ \t]*<|class[ \t]+\w+[^;(]*\{"
    rb"|using[ \t]+namespace\b"
    rb"|#include[ \t]*<(iostream|string|vector|memory|map|cstdint|cstddef|utility)>)"
    rb"|\bstd::",
    re.MULTILINE,
)


def _language(rel_path: str, source: bytes | None = None) -> str:
    """Our language name for a file; a `.h` file whose text is C++ is C++."""
    spec = languages.detect(rel_path)
    if spec is None:
        return ""
    if (
        spec.name == "c"
        and source is not None
        and rel_path.endswith(".h")
        and _CPP_HEADER_RE.search(source)
    ):
        return "cpp"
    return spec.name


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)
