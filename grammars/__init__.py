"""cl-lsp's own tree-sitter query files, one folder per language (shipped as cl_lsp.grammars)."""
