"""The workspace index: filters, secrets, links, persistence, updates, import resolution."""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from cl_lsp.core import index as index_mod
from cl_lsp.core.filters import IgnoreRules, content_skip_reason, is_secret_path, parse_gitignore
from cl_lsp.core.index import RepositoryIndex
from cl_lsp.core.symbols import Import


def write(root: Path, rel: str, text: str | bytes = "") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def scanned(root: Path, cache: Path | None = None, **kwargs) -> RepositoryIndex:
    index = RepositoryIndex(root, cache, **kwargs)
    index.scan()
    return index


# ---------------------------------------------------------------------------------------
# .gitignore semantics


def ignored(patterns: str, path: str, is_dir: bool = False) -> bool:
    rules = IgnoreRules()
    rules.set_rules("", parse_gitignore(patterns))
    return rules.ignored(path, is_dir)


@pytest.mark.parametrize(
    ("patterns", "path", "is_dir", "expected"),
    [
        ("*.log", "a.log", False, True),
        ("*.log", "deep/er/a.log", False, True),
        ("*.log\n!keep.log", "x/keep.log", False, False),
        ("!keep.log\n*.log", "keep.log", False, True),  # the last match wins
        ("/top.py", "top.py", False, True),  # anchored
        ("/top.py", "sub/top.py", False, False),
        ("docs/*.md", "docs/a.md", False, True),  # a middle slash anchors too
        ("docs/*.md", "x/docs/a.md", False, False),
        ("docs/*.md", "docs/sub/a.md", False, False),  # * never crosses /
        ("out/", "out", True, True),  # dir-only
        ("out/", "out", False, False),
        ("out/", "a/out", True, True),
        ("**/gen", "a/b/gen", True, True),
        ("**/gen", "gen", True, True),
        ("a/**/z.py", "a/z.py", False, True),
        ("a/**/z.py", "a/b/c/z.py", False, True),
        ("a/**", "a/b/c.py", False, True),
        ("a/**", "a", True, False),
        ("file?.py", "file1.py", False, True),
        ("file?.py", "file10.py", False, False),
        ("file[0-9].py", "file7.py", False, True),
        ("file[!0-9].py", "file7.py", False, False),
        ("\\#hash", "#hash", False, True),
        ("# comment\n\n", "comment", False, False),
        ("trailing.py   ", "trailing.py", False, True),
    ],
)
def test_gitignore_patterns(patterns: str, path: str, is_dir: bool, expected: bool) -> None:
    assert ignored(patterns, path, is_dir) is expected


def test_gitignore_matcher_agrees_with_pathspec() -> None:
    pathspec = pytest.importorskip("pathspec")
    patterns = [
        "*.log",
        "!important.log",
        "/build",
        "docs/**/*.md",
        "**/tmp",
        "lib/*.py",
        "a?c.py",
        "x[0-9].py",
        "nested/dir/",
        "*.min.*",
    ]
    paths = [
        "a.log",
        "important.log",
        "src/important.log",
        "build",
        "src/build",
        "docs/a/b.md",
        "docs/b.md",
        "x/tmp",
        "tmp",
        "lib/a.py",
        "lib/sub/a.py",
        "abc.py",
        "abbc.py",
        "x5.py",
        "xa.py",
        "app.min.js",
        "nested/dir/f.py",
        "q/nested/dir/f.py",
    ]
    spec = pathspec.PathSpec.from_lines("gitignore", patterns)
    rules = IgnoreRules()
    rules.set_rules("", parse_gitignore("\n".join(patterns)))
    for path in paths:
        # pathspec matches files by full path; ours is called per component by the walk.
        parts = path.split("/")
        ours = any(
            rules.ignored("/".join(parts[: i + 1]), is_dir=i < len(parts) - 1)
            for i in range(len(parts))
        )
        assert ours == spec.match_file(path), path


def test_scan_applies_nested_gitignores(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.gen.py\n/only_root.py\nbuildout/\n!keep.gen.py\n")
    write(tmp_path, "a.py", "def a(): pass\n")
    write(tmp_path, "x.gen.py", "def gen(): pass\n")
    write(tmp_path, "keep.gen.py", "def keep(): pass\n")
    write(tmp_path, "only_root.py", "def r(): pass\n")
    write(tmp_path, "sub/only_root.py", "def r2(): pass\n")
    write(tmp_path, "buildout/b.py", "def b(): pass\n")
    write(tmp_path, "sub/buildout", "not a dir\n")  # dir-only rule: a file stays
    write(tmp_path, "sub/.gitignore", "secret_sauce.py\n!x.gen.py\n")
    write(tmp_path, "sub/secret_sauce.py", "def s(): pass\n")
    write(tmp_path, "sub/x.gen.py", "def subgen(): pass\n")  # re-included below
    write(tmp_path, "other/secret_sauce.py", "def o(): pass\n")  # sub's rule is local
    index = scanned(tmp_path)
    assert index.files() == [
        "a.py",
        "keep.gen.py",
        "other/secret_sauce.py",
        "sub/only_root.py",
        "sub/x.gen.py",
    ]
    for path in index.files():
        assert index.should_index(path)
    for path in ("x.gen.py", "only_root.py", "buildout/b.py", "sub/secret_sauce.py"):
        assert not index.should_index(path)
    assert index.stats()["skipped"]["gitignore"] >= 4


def test_extra_ignore_globs_and_skip_dirs(tmp_path: Path) -> None:
    write(tmp_path, "src/app.py", "def app(): pass\n")
    write(tmp_path, "vendor/lib.py", "def lib(): pass\n")
    write(tmp_path, "src/app_test.py", "def t(): pass\n")
    for skipped in (
        "node_modules/m.js",
        ".venv/v.py",
        "venv/v.py",
        "__pycache__/c.py",
        "build/b.py",
        "dist/d.py",
        ".git/hooks/h.py",
        "pkg.egg-info/x.py",
    ):
        write(tmp_path, skipped, "x = 1\n")
    index = scanned(tmp_path, ignore=["vendor/", "*_test.py"])
    assert index.files() == ["src/app.py"]
    assert not index.should_index("node_modules/m.js")
    assert not index.should_index("vendor/lib.py")
    assert not index.should_index("README.md")  # no grammar for it


# ---------------------------------------------------------------------------------------
# Secrets


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.local",
        "config/.env.production",
        "certs/server.pem",
        "tls/private.key",
        "home/.ssh/id_rsa",
        "id_ed25519.pub",
        "keys/id_rsa",
        "store.p12",
        "store.pfx",
        ".netrc",
        ".npmrc",
        ".pypirc",
        "credentials",
        "credentials.json",
        ".aws/config",
        "x/.aws/credentials",
        "x/.ssh/config.py",
        ".gnupg/pubring.kbx",
        "vault.kdbx",
        "gcp-service-account.json",
        "my_credentials_prod.json",
        "deploy/.ENV",
    ],
)
def test_secret_paths(path: str) -> None:
    assert is_secret_path(path)


@pytest.mark.parametrize(
    "path", ["src/env.py", "environment.ts", "keyboard.py", "monkey.c", "docs/pem.md", "a/b.py"]
)
def test_not_secret_paths(path: str) -> None:
    assert not is_secret_path(path)


def test_secrets_are_never_opened_nor_stored(tmp_path: Path, monkeypatch) -> None:
    sentinel = "SENTINEL_SECRET_9f8e7d"
    secrets = [
        ".env",
        ".env.local",
        "id_rsa",
        "server.pem",
        "x.key",
        ".ssh/config.py",
        ".aws/creds.py",
        "credentials.py",
        "gcp-service-account.json",
        ".netrc",
        ".npmrc",
        ".pypirc",
        ".gnupg/a.sh",
    ]
    content = f"TOKEN = '{sentinel}'\ndef {sentinel}(): pass\n"
    for rel in secrets:
        write(tmp_path, rel, content)
    write(tmp_path, "app.py", "def app(): pass\n")
    opened: list[str] = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    cache = tmp_path.parent / (tmp_path.name + "-cache")
    index = scanned(tmp_path, cache)
    for rel in secrets:
        assert not index.should_index(rel)
        assert not index.update_file(rel, content.encode())
        assert not index.update_text(rel, f"def {sentinel}(): pass\n", "python")
    index.close()
    monkeypatch.setattr(builtins, "open", real_open)
    assert not [p for p in opened if is_secret_path(os.path.relpath(p, tmp_path))]
    assert index.files() == ["app.py"]
    assert index.definitions_named(sentinel) == []
    for db in cache.iterdir():
        assert sentinel.encode() not in db.read_bytes()


# ---------------------------------------------------------------------------------------
# Links, loops, unreadable and vanishing files


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_links_out_of_root_are_not_followed(tmp_path: Path) -> None:
    root, outside = tmp_path / "ws", tmp_path / "outside"
    write(outside, "leak.py", "def leaked(): pass\n")
    write(root, "inside.py", "def inside(): pass\n")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    (root / "linkfile.py").symlink_to(outside / "leak.py")
    (root / "dangling.py").symlink_to(tmp_path / "nope.py")
    index = scanned(root)
    assert index.files() == ["inside.py"]
    assert index.definitions_named("leaked") == []


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_symlink_loops_survive(tmp_path: Path) -> None:
    write(tmp_path, "a/mod.py", "def mod(): pass\n")
    (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "a" / "self").symlink_to(tmp_path / "a", target_is_directory=True)
    index = scanned(tmp_path)
    assert [d.path for d in index.definitions_named("mod")] == ["a/mod.py"]


def test_unreadable_dir_and_file_deleted_mid_scan(tmp_path: Path, monkeypatch) -> None:
    for i in range(5):
        write(tmp_path, f"f{i}.py", f"def f{i}(): pass\n")
    write(tmp_path, "locked/x.py", "def x(): pass\n")
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(path)
        return real_scandir(path)

    monkeypatch.setattr(index_mod.os, "scandir", scandir)
    index = RepositoryIndex(tmp_path, None)

    def progress(done: int, total: int) -> None:
        if done == 1:  # the walk is over: delete a file it found
            (tmp_path / "f3.py").unlink()

    index.scan(progress=progress)
    assert index.files() == ["f0.py", "f1.py", "f2.py", "f4.py"]
    assert index.stats()["skipped"]["error"] >= 2


def test_cancel_stops_the_scan(tmp_path: Path) -> None:
    for i in range(20):
        write(tmp_path, f"f{i:02}.py", f"def f{i}(): pass\n")
    cancel = threading.Event()
    index = RepositoryIndex(tmp_path, None)
    index.scan(progress=lambda done, total: done == 5 and cancel.set(), cancel=cancel)
    assert len(index.files()) == 5


# ---------------------------------------------------------------------------------------
# Content filters


def test_binary_minified_generated_oversized_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "ok.js", "export function ok() { return 1; }\n")
    write(tmp_path, "bin.py", b"def x():\n  pass\n\x00\x01\x02")
    write(tmp_path, "app.min.js", "function a(){return 1}" * 100 + "\n")
    write(tmp_path, "wide.js", ("var a = '" + "x" * 400 + "';\n") * 3)
    write(tmp_path, "pb2.py", "# Generated by the protocol buffer compiler.  DO NOT EDIT!\nX=1\n")
    write(tmp_path, "gen.go", "// Code generated by stringer; DO NOT EDIT.\npackage x\n")
    write(tmp_path, "huge.py", "x = 1\n" * 5000)
    index = scanned(tmp_path, max_file_bytes=20_000)
    assert index.files() == ["ok.js"]
    skipped = index.stats()["skipped"]
    assert skipped == {"binary": 1, "generated": 2, "minified": 2, "too_large": 1}
    assert content_skip_reason(b"def f():\n    pass\n") is None


def test_secret_content_under_an_innocent_name_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "ok.py", "def ok(): return 1\n")
    write(tmp_path, "config.py", 'KEY = """-----BEGIN RSA PRIVATE KEY-----\nMIIE\n"""\n')
    write(tmp_path, "loader.py", 'CREDS = {"type": "service_account", "private_key": "x"}\n')
    write(tmp_path, "deploy.sh", "export AWS_SECRET_ACCESS_KEY=abc\n")
    index = scanned(tmp_path)
    assert index.files() == ["ok.py"]
    assert index.stats()["skipped"] == {"secret": 3}
    # Words alone are not enough: code that talks about keys is still code.
    assert content_skip_reason(b"def private_key_path(): return 'private key'\n") is None


# ---------------------------------------------------------------------------------------
# Persistence and updates


def test_warm_scan_reparses_nothing(tmp_path: Path) -> None:
    root, cache = tmp_path / "ws", tmp_path / "cache"
    write(root, "a.py", "def a():\n    '''A.'''\n")
    write(root, "pkg/b.ts", "export function b(x: number): number { return x; }\n")
    write(root, "c.c", "int c(void) { return 0; }\n")
    first = scanned(root, cache)
    assert first.parse_count == 3
    first.close()

    second = scanned(root, cache)
    assert second.parse_count == 0 and second.reused_count == 3
    assert second.files() == ["a.py", "c.c", "pkg/b.ts"]
    assert second.definitions_named("a")[0].doc == "'''A.'''"
    assert second.definitions_named("b")[0].path == "pkg/b.ts"

    write(root, "a.py", "def a2():\n    pass\n")  # changed
    (root / "c.c").unlink()  # deleted
    os.utime(root / "pkg/b.ts", ns=(1, 1))  # touched, same content: read, not parsed
    second.scan()
    assert second.parse_count == 1
    assert second.files() == ["a.py", "pkg/b.ts"]
    assert second.definitions_named("a") == [] and second.definitions_named("a2")
    assert second.definitions_named("c") == []
    second.close()

    third = scanned(root, cache)
    assert third.parse_count == 0 and third.files() == ["a.py", "pkg/b.ts"]
    db = next(cache.glob("*.sqlite3"))
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM tags").fetchone()[0] == 2  # pruned
    third.close()


def test_identical_content_is_parsed_once(tmp_path: Path) -> None:
    for i in range(3):
        write(tmp_path, f"p{i}/__init__.py", "def shared(): pass\n")
    index = scanned(tmp_path, tmp_path / ".cache-dir")
    assert index.parse_count == 1
    assert sorted(d.path for d in index.definitions_named("shared")) == [
        "p0/__init__.py",
        "p1/__init__.py",
        "p2/__init__.py",
    ]


def test_update_file_and_buffers(tmp_path: Path) -> None:
    write(tmp_path, "m.py", "def disk(): pass\n")
    index = scanned(tmp_path)
    assert index.update_file("n.py", b"def new(): pass\n")
    assert index.definitions_named("new")[0].path == "n.py"
    assert index.update_text("m.py", "def typed(x):\n    return x\n", "python")
    assert index.definitions_named("disk") == []
    assert index.definitions_named("typed")[0].signature == "def typed(x):"
    index.update_file("m.py", b"def disk2(): pass\n")  # the buffer still wins
    assert index.definitions_named("disk2") == []
    index.drop_text("m.py")
    assert index.definitions_named("disk2") and index.definitions_named("typed") == []
    index.update_file("m.py", None)
    assert "m.py" not in index.files() and index.file_tags("m.py") is None
    parsed = index.parse_count
    assert index.update_text("m2.py", "def same(): pass\n", "python")
    assert index.update_text("m2.py", "def same(): pass\n", "python")  # unchanged: no parse
    assert index.parse_count == parsed + 1
    assert index.update_text("script", "f() { :; }\n", "shellscript")  # an LSP languageId
    assert index.definitions_named("f")[0].path == "script"
    assert not index.update_text("bundle.js", "var a=1;" * 200, "javascript")  # minified
    for path in ("m2.py", "script"):
        index.drop_text(path)
    assert not index.update_file("node_modules/x.js", b"function x() {}\n")
    assert not index.update_file("app.min.js", b"var a=1;" * 200)
    stats = index.stats()
    assert stats["files"] == 1 and stats["definitions"] == 1


def test_gitignore_change_via_update_file(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "def a(): pass\n")
    index = scanned(tmp_path)
    assert index.should_index("tmp_x.py")
    write(tmp_path, ".gitignore", "tmp_*.py\n")
    index.update_file(".gitignore", (tmp_path / ".gitignore").read_bytes())
    assert not index.should_index("tmp_x.py")


def test_concurrent_scan_and_buffer_updates(tmp_path: Path) -> None:
    for i in range(60):
        write(tmp_path, f"m{i}.py", f"def m{i}(): pass\n" * 20)
    index = RepositoryIndex(tmp_path, tmp_path / ".c")
    worker = threading.Thread(target=index.scan)
    worker.start()
    for i in range(200):
        index.update_text("live.py", f"def live{i}(): pass\n", "python")
        index.definitions_named(f"m{i % 60}")
    worker.join()
    assert len(index.files()) == 61
    assert index.definitions_named("live199")


def test_top_level_api(tmp_path: Path) -> None:
    write(
        tmp_path,
        "api.py",
        "X = 1\nclass A:\n    def m(self):\n        def local(): pass\n"
        "def f():\n    def inner(): pass\n",
    )
    index = scanned(tmp_path)
    assert [(d.scope, d.name) for d in index.top_level_api("api.py")] == [
        ("", "X"),
        ("", "A"),
        ("A", "m"),
        ("", "f"),
    ]


# ---------------------------------------------------------------------------------------
# Import resolution


def imp(module: str, names: tuple[str, ...] = (), text: str = "") -> Import:
    return Import(module=module, names=names, line=0, text=text or module)


def test_resolve_python(tmp_path: Path) -> None:
    for rel in (
        "pkg/__init__.py",
        "pkg/util.py",
        "pkg/sub/__init__.py",
        "pkg/sub/deep.py",
        "src/lib2/core.py",
        "top.py",
    ):
        write(tmp_path, rel, "x = 1\n")
    index = scanned(tmp_path)
    r = index.resolve_import
    assert r("pkg/sub/deep.py", imp("..util")) == "pkg/util.py"
    assert r("pkg/sub/deep.py", imp(".")) == "pkg/sub/__init__.py"
    assert r("pkg/sub/deep.py", imp("..")) == "pkg/__init__.py"
    assert r("pkg/util.py", imp(".sub.deep")) == "pkg/sub/deep.py"
    assert r("top.py", imp("pkg.util")) == "pkg/util.py"
    assert r("top.py", imp("pkg.sub")) == "pkg/sub/__init__.py"
    assert r("top.py", imp("pkg")) == "pkg/__init__.py"
    assert r("top.py", imp("lib2.core")) == "src/lib2/core.py"
    assert r("top.py", imp("os")) is None
    write(tmp_path, "scripts/run.py", "import helper\n")
    write(tmp_path, "scripts/helper.py", "x = 1\n")
    index.scan()
    assert index.resolve_import("scripts/run.py", imp("helper")) == "scripts/helper.py"
    assert r("top.py", imp("....too.far")) is None


def test_resolve_typescript_and_javascript(tmp_path: Path) -> None:
    for rel in (
        "src/app.ts",
        "src/models/foo.ts",
        "src/models/index.ts",
        "src/util/index.js",
        "src/view.tsx",
        "src/esm.ts",
        "lib/old.js",
    ):
        write(tmp_path, rel, "export const x = 1;\n")
    index = scanned(tmp_path)
    r = index.resolve_import
    assert r("src/app.ts", imp("./models/foo")) == "src/models/foo.ts"
    assert r("src/app.ts", imp("./models")) == "src/models/index.ts"
    assert r("src/app.ts", imp("./util")) == "src/util/index.js"
    assert r("src/app.ts", imp("./view")) == "src/view.tsx"
    assert r("src/app.ts", imp("./esm.js")) == "src/esm.ts"  # TS ESM style
    assert r("src/models/foo.ts", imp("../../lib/old.js")) == "lib/old.js"
    assert r("src/app.ts", imp("@/models/foo")) == "src/models/foo.ts"
    assert r("src/app.ts", imp("react")) is None
    assert r("src/app.ts", imp("../../../outside")) is None


def test_resolve_c_includes(tmp_path: Path) -> None:
    for rel in ("src/main.c", "src/local.h", "include/proj/api.h", "third/deep/util.h"):
        write(tmp_path, rel, "int x;\n")
    index = scanned(tmp_path)
    r = index.resolve_import
    assert r("src/main.c", imp("local.h")) == "src/local.h"
    assert r("src/main.c", imp("proj/api.h")) == "include/proj/api.h"
    assert r("src/main.c", imp("deep/util.h")) == "third/deep/util.h"
    assert r("src/main.c", imp("stdio.h")) is None


def test_resolve_other_languages(tmp_path: Path) -> None:
    write(tmp_path, "go.mod", "module example.com/app\n")
    write(tmp_path, "internal/model/item.go", "package model\n")
    write(tmp_path, "internal/model/item_test.go", "package model\n")
    write(tmp_path, "cmd/main.go", "package main\n")
    write(tmp_path, "src/lib.rs", "mod store;\n")
    write(tmp_path, "src/store/mod.rs", "pub mod cache;\n")
    write(tmp_path, "src/store/cache.rs", "pub fn get() {}\n")
    write(
        tmp_path,
        "src/main/java/com/acme/util/Strings.java",
        "package com.acme.util;\npublic class Strings {}\n",
    )
    write(tmp_path, "src/main/java/com/acme/App.java", "package com.acme;\nclass App {}\n")
    write(tmp_path, "Services/UserStore.cs", "namespace Acme.Services { class UserStore {} }\n")
    write(tmp_path, "app/Models/User.php", "<?php\nnamespace App\\Models;\nclass User {}\n")
    write(tmp_path, "app/helpers.php", "<?php\nfunction h() {}\n")
    write(tmp_path, "scripts/lib/common.sh", "f() { :; }\n")
    index = scanned(tmp_path)
    r = index.resolve_import
    assert r("cmd/main.go", imp("example.com/app/internal/model")) == "internal/model/item.go"
    assert r("cmd/main.go", imp("fmt")) is None
    assert r("cmd/main.go", imp("net/http")) is None
    assert r("cmd/main.go", imp("github.com/other/dep/model")) is None  # 2+ parts must match
    assert r("cmd/main.go", imp("github.com/x/app/internal/model")) == "internal/model/item.go"
    assert r("src/lib.rs", imp("store", text="mod store;")) == "src/store/mod.rs"
    assert r("src/store/mod.rs", imp("cache", text="pub mod cache;")) == "src/store/cache.rs"
    assert r("src/lib.rs", imp("crate::store::cache", ("get",))) == "src/store/cache.rs"
    assert r("src/store/cache.rs", imp("super::cache")) == "src/store/cache.rs"
    assert r("src/lib.rs", imp("std::collections")) is None
    java = "src/main/java/com/acme/App.java"
    assert r(java, imp("com.acme.util.Strings")) == "src/main/java/com/acme/util/Strings.java"
    assert r(java, imp("com.acme.util.Strings.join")) == (
        "src/main/java/com/acme/util/Strings.java"
    )
    assert r("Services/UserStore.cs", imp("Acme.Services")) == "Services/UserStore.cs"
    assert r("app/helpers.php", imp("App\\Models\\User")) == "app/Models/User.php"
    assert r("app/Models/User.php", imp("../helpers.php")) == "app/helpers.php"
    assert r("scripts/run.sh", imp("./lib/common.sh")) == "scripts/lib/common.sh"


def test_corrupt_or_unusable_cache_is_not_fatal(tmp_path: Path) -> None:
    root, cache = tmp_path / "ws", tmp_path / "cache"
    write(root, "a.py", "def a(): pass\n")
    scanned(root, cache).close()
    db = next(cache.glob("*.sqlite3"))
    db.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    index = scanned(root, cache)  # recreated
    assert index.files() == ["a.py"] and index.parse_count == 1
    index.close()
    assert scanned(root, cache).parse_count == 0  # and usable again
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    fallback = scanned(root, blocked)  # no cache at all, but an index
    assert fallback.files() == ["a.py"] and fallback.parse_count == 1


def test_cpp_in_dot_h_headers(tmp_path: Path) -> None:
    write(tmp_path, "c_api.h", "struct point { int x; };\nint area(int w, int h);\n")
    write(
        tmp_path, "shape.h", "namespace geo {\nclass Shape {\n public:\n  double area();\n};\n}\n"
    )
    index = scanned(tmp_path, tmp_path / ".cache")
    assert index.file_tags("c_api.h").language == "c"
    shape = index.file_tags("shape.h")
    assert shape.language == "cpp"
    assert [(d.scope, d.name) for d in shape.definitions] == [
        ("", "geo"),
        ("geo", "Shape"),
        ("geo.Shape", "area"),
    ]
    index.close()
    warm = scanned(tmp_path, tmp_path / ".cache")
    assert warm.parse_count == 0 and warm.file_tags("shape.h").language == "cpp"


def test_public_queries_for_import_resolution(tmp_path: Path) -> None:
    write(tmp_path, "go.mod", "module example.com/app\n")
    write(tmp_path, "cmd/main.go", "package main\n")
    write(tmp_path, "pkg/util/main.go", "package util\n")
    index = scanned(tmp_path)
    assert index.has_file("cmd/main.go") and not index.has_file("cmd/other.go")
    assert index.files_named("main.go") == {"cmd/main.go", "pkg/util/main.go"}
    assert index.files_in_folder("pkg/util") == {"pkg/util/main.go"}
    assert sorted(index.folders()) == ["cmd", "pkg/util"]
    assert index.go_module() == "example.com/app"
