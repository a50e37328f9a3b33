"""LSP glue only: each module registers the features of one area on a ClLspServer."""
