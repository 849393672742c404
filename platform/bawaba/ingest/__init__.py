"""Ingestion: from the departments' own systems to the privacy-safe analytic store."""
