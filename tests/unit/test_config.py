"""Settings merge from layers; bad values are reported, never fatal."""

from pathlib import Path

from cl_lsp.config import Settings, load_toml, merged


def test_layers_apply_in_order_and_accept_camel_case() -> None:
    settings, problems = merged(
        Settings(),
        {"model": {"path": "/a.gguf", "nGpuLayers": 10}},
        {"completion": {"maxTokens": 7, "fimLayout": "psm"}},
        {"model": {"path": "/b.gguf"}},
    )
    assert problems == []
    assert settings.model.path == "/b.gguf"
    assert settings.model.n_gpu_layers == 10
    assert settings.completion.max_tokens == 7
    assert settings.completion.fim_layout == "psm"


def test_bad_values_are_reported_and_ignored() -> None:
    base = Settings()
    settings, problems = merged(base, {"completion": {"maxTokens": "many", "bogus": 1}, "model": 3})
    assert settings.completion.max_tokens == base.completion.max_tokens
    assert len(problems) == 3


def test_merging_does_not_mutate_the_base() -> None:
    base = Settings()
    merged(base, {"context": {"ignore": ["*.log"]}})
    assert base.context.ignore == []


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[model]\npath = "/m.gguf"\nn_ctx = 4096\n')
    layer, problems = load_toml(path)
    settings, more = merged(Settings(), layer)
    assert problems == more == []
    assert settings.model.path == "/m.gguf" and settings.model.n_ctx == 4096
    assert load_toml(tmp_path / "missing.toml") == ({}, [])
    (tmp_path / "bad.toml").write_text("[model\n")
    assert load_toml(tmp_path / "bad.toml")[1]
