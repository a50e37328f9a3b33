"""`python -m cl_lsp` is `cl-lsp`."""

from cl_lsp.cli import main

raise SystemExit(main())
