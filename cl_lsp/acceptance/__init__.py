"""What the user accepts: local acceptance statistics (SQLite, private), the per-language
and per-path completion switches, and the rule that answers unaccepted contexts less
eagerly. `summary`, `gate` and `streaks` are pure; `store` owns the database; `recorder`
is the server's glue."""
