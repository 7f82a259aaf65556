"""The rules, free of HTTP: services validate, decide and own the transaction."""
