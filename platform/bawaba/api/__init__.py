"""The HTTP API: published datasets served with DuckDB through FastAPI.

``create_app`` in ``bawaba.api.app`` builds the application; ``bawaba serve`` runs it.
"""
