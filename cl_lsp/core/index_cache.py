"""The index's SQLite cache: tags by content hash, files by (mtime, size, hash)."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from functools import cache
from pathlib import Path

from cl_lsp.core import languages
from cl_lsp.core.symbols import Definition, FileTags, Import
from cl_lsp.core.tags import content_hash

_log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
TAGGER_VERSION = 1  # bump when tags.py changes what it extracts; queries are hashed in

# Folders never worth indexing: VCS data, dependencies, virtualenvs, caches, build output.


# ---------------------------------------------------------------------------------------
# Serialization of FileTags for the cache


def tags_to_json(tags: FileTags) -> str:
    defs = [
        [d.name, d.kind, d.start_line, d.end_line, d.signature, d.doc, d.scope]
        for d in tags.definitions
    ]
    imps = [[i.module, list(i.names), i.line, i.text] for i in tags.imports]
    return json.dumps({"d": defs, "i": imps, "r": sorted(tags.references)}, separators=(",", ":"))


def tags_from_json(data: str, path: str, language: str, digest: str) -> FileTags:
    obj = json.loads(data)
    defs = tuple(
        Definition(
            name=n, kind=k, path=path, start_line=s, end_line=e, signature=sig, doc=doc, scope=scope
        )
        for n, k, s, e, sig, doc, scope in obj["d"]
    )
    imps = tuple(Import(module=m, names=tuple(ns), line=ln, text=t) for m, ns, ln, t in obj["i"])
    return FileTags(
        path=path,
        language=language,
        content_hash=digest,
        definitions=defs,
        imports=imps,
        references=frozenset(obj["r"]),
    )


@cache
def tagger_fingerprint() -> str:
    """Changes when our queries or tagger change: cached tags from older ones are dropped."""
    sources = [languages.query_source(s.name, "tags") or "" for s in languages.LANGUAGES]
    blob = f"{SCHEMA_VERSION}:{TAGGER_VERSION}:" + "\0".join(sources)
    return content_hash(blob.encode())


# ---------------------------------------------------------------------------------------
# SQLite cache


class TagsCache:
    """hash -> tags and path -> (mtime, size, hash); one connection per thread, WAL.

    The cache is an optimization only: a corrupt file is recreated, and an unusable one
    (read-only folder, disk full) turns the cache off instead of failing the index.
    """

    def __init__(self, db_path: Path | None) -> None:
        self._db_path = db_path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if db_path is None:
            return
        try:
            self._init()
        except sqlite3.DatabaseError:
            self._reset_file(db_path)
        except (sqlite3.Error, OSError) as exc:
            self._disable(exc)

    def _reset_file(self, db_path: Path) -> None:
        _log.warning("index cache %s is unreadable; recreating it", db_path)
        self.close()
        try:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
            self._init()
        except (sqlite3.Error, OSError) as exc:
            self._disable(exc)

    def _disable(self, exc: BaseException) -> None:
        _log.warning("index cache off (%s): %s", self._db_path, exc)
        self.close()
        self._db_path = None

    @property
    def enabled(self) -> bool:
        return self._db_path is not None

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            assert self._db_path is not None
            conn = sqlite3.connect(self._db_path, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _init(self) -> None:
        conn = self._conn()
        with conn:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS tags (key TEXT PRIMARY KEY, data TEXT NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, mtime_ns INTEGER,"
                " size INTEGER, key TEXT)"
            )
            row = conn.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()
            if row is None or row[0] != tagger_fingerprint():
                conn.execute("DELETE FROM tags")
                conn.execute("DELETE FROM files")
                conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)",
                    (tagger_fingerprint(),),
                )

    def load_files(self) -> dict[str, tuple[int, int, str]]:
        if not self.enabled:
            return {}
        try:
            rows = self._conn().execute("SELECT path, mtime_ns, size, key FROM files")
            return {p: (m, s, k) for p, m, s, k in rows}
        except sqlite3.Error as exc:
            self._disable(exc)
            return {}

    def get_tags(self, key: str) -> str | None:
        if not self.enabled:
            return None
        try:
            row = self._conn().execute("SELECT data FROM tags WHERE key=?", (key,)).fetchone()
        except sqlite3.Error as exc:
            self._disable(exc)
            return None
        return None if row is None else str(row[0])

    def write(
        self,
        tags: list[tuple[str, str]],
        files: list[tuple[str, int, int, str]],
        deleted: list[str],
    ) -> None:
        if not self.enabled or not (tags or files or deleted):
            return
        try:
            conn = self._conn()
            with conn:
                conn.executemany("INSERT OR IGNORE INTO tags VALUES (?, ?)", tags)
                conn.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", files)
                conn.executemany("DELETE FROM files WHERE path=?", [(p,) for p in deleted])
        except sqlite3.Error as exc:
            self._disable(exc)

    def prune(self, keep_paths: set[str]) -> None:
        """Forget files no longer in the workspace and tags no file uses."""
        if not self.enabled:
            return
        stale = [p for p in self.load_files() if p not in keep_paths]
        try:
            conn = self._conn()
            with conn:
                conn.executemany("DELETE FROM files WHERE path=?", [(p,) for p in stale])
                conn.execute("DELETE FROM tags WHERE key NOT IN (SELECT key FROM files)")
        except sqlite3.Error as exc:
            self._disable(exc)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()


# ---------------------------------------------------------------------------------------
