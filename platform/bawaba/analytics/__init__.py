"""Premium analytics: indicators for businesses, computed from published tables only.

PRIVACY.md (S3) is the rule this package lives by: every answer is computed by DuckDB over
the Parquet of a *published* dataset version, resolved through ``bawaba.serving.library``, so
every cell it sums already passed disclosure control and the publish gate. Nothing here
reads the analytic store under ``var/``. Suppressed cells are never imputed: they are left
out of sums and counted, and a comparison (growth, share shift) is given only between
periods with no suppressed cell.

One module per indicator family (``series``, ``mix``, ``seasonality``, ``top_services``,
``adoption``) turns parsed parameters into a ``Plan``; ``answer`` runs plans with caching;
the HTTP routes live in ``bawaba.api.routes.analytics``.
"""
