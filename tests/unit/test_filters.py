"""gitignore matching through pathspec: the cases the index relies on, folder by folder."""

from __future__ import annotations

import pytest

from cl_lsp.core.filters import IgnoreRules, parse_gitignore


def walk_ignored(rules: IgnoreRules, path: str) -> bool:
    """As the scan sees a file: any of its folders, or the file itself, ignored."""
    parts = path.split("/")
    return any(
        rules.ignored("/".join(parts[: i + 1]), is_dir=i < len(parts) - 1)
        for i in range(len(parts))
    )


def rules_of(**files: str) -> IgnoreRules:
    """`rules_of(root="...", sub="...")`: a .gitignore per folder ("root" is the top)."""
    rules = IgnoreRules()
    for folder, text in files.items():
        rules.set_rules(
            "" if folder == "root" else folder.replace("__", "/"), parse_gitignore(text)
        )
    return rules


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        # negation: the last match wins, and a file inside `a/**` can come back
        ("*.py\n!keep.py", "src/keep.py", False),
        ("!keep.py\n*.py", "src/keep.py", True),
        ("a/**\n!a/keep.py", "a/keep.py", False),
        ("a/**\n!a/keep.py", "a/other.py", True),
        ("/*\n!/foo\n/foo/*\n!/foo/bar", "foo/bar/x.py", False),  # git's own example
        ("/*\n!/foo\n/foo/*\n!/foo/bar", "foo/baz/x.py", True),
        ("/*\n!/foo\n/foo/*\n!/foo/bar", "top.py", True),
        # `**`: leading, middle, trailing
        ("**/cache", "a/b/cache/x.py", True),
        ("**/cache", "cache/x.py", True),
        ("src/**/gen.py", "src/gen.py", True),
        ("src/**/gen.py", "src/a/b/gen.py", True),
        ("src/**/gen.py", "lib/src/gen.py", False),
        ("logs/**", "logs/2026/a.log", True),
        ("logs/**", "logs", False),
        # anchored: a leading or middle slash ties the pattern to the .gitignore's folder
        ("/only.py", "only.py", True),
        ("/only.py", "deep/only.py", False),
        ("conf/*.yml", "conf/a.yml", True),
        ("conf/*.yml", "x/conf/a.yml", False),
        # directory-only: a trailing slash never matches a file of that name
        ("out/", "out", False),
        ("out/", "out/x.py", True),
        ("out/", "pkg/out/x.py", True),
        ("/out/", "pkg/out/x.py", False),
    ],
)
def test_gitignore_cases(patterns: str, path: str, expected: bool) -> None:
    assert walk_ignored(rules_of(root=patterns), path) is expected


def test_a_nested_gitignore_is_relative_to_its_folder_and_wins() -> None:
    rules = rules_of(root="*.gen.py\nbuild/\n", pkg="!keep.gen.py\n/local.py\n")
    assert walk_ignored(rules, "pkg/a.gen.py")
    assert not walk_ignored(rules, "pkg/keep.gen.py")  # the deeper folder decides
    assert walk_ignored(rules, "keep.gen.py")  # the negation is pkg's alone
    assert walk_ignored(rules, "pkg/local.py")  # anchored to pkg/
    assert not walk_ignored(rules, "pkg/sub/local.py") and not walk_ignored(rules, "local.py")
    assert walk_ignored(rules, "pkg/build/x.py")


def test_comments_and_blank_lines_are_no_rules() -> None:
    assert parse_gitignore("# only a comment\n\n   \n") == []
    rules = rules_of(root="# *.py\n\\#hash.py\n")
    assert walk_ignored(rules, "#hash.py") and not walk_ignored(rules, "a.py")


@pytest.mark.parametrize(
    "text",
    [
        'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"\n',
        "token = 'ghp_" + "a1B2" * 9 + "'\n",
        "GITHUB_TOKEN=github_pat_" + "x" * 40 + "\n",
        "slack = 'xoxb-1234567890-abcdef'\n",
        "key = 'AIza" + "S" * 35 + "'\n",
        "stripe.api_key = 'sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc" + "'\n",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n",
        '{"type": "service_account", "private_key": "x"}',
    ],
)
def test_credentials_are_secret_content(text: str) -> None:
    from cl_lsp.core.filters import secret_content

    assert secret_content(text.encode())


@pytest.mark.parametrize(
    "text",
    [
        "def ghost():\n    return 'asia'\n",
        "AKIA = 1  # a name, not a key\n",
        "gh_pages = 'ghp_short'\n",
        "sk_live = None\n",
    ],
)
def test_ordinary_code_is_not_secret_content(text: str) -> None:
    from cl_lsp.core.filters import secret_content

    assert not secret_content(text.encode())
