"""Server features as objects: each owns its threads, timers and caches, registers its LSP
handlers, and hears document events through the `Feature` hooks."""
