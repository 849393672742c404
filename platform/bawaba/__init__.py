"""Bawaba: open data platform for government e-payment and e-service statistics."""

__version__ = "0.1.0"
