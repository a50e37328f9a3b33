"""cl-lsp: a language server for local Code Llama fill-in-the-middle completions."""

__version__ = "0.1.0"
