"""Privacy primitives: text normalisation, checksums and PII detection (pure, no I/O)."""
