"""The read side: what every front end (the API, the portal, the ecosystem formats, the
analytics) serves published releases with, independent of which web app wires it.

The library of published versions, the DuckDB engine and the query compiler over them,
ETags and the answer cache, who may read what, the one error shape, and the FastAPI
dependencies every router declares (``bawaba.serving.deps``). It builds on ``bawaba.core``
(the release layout and the storage, key and counter backends) and never imports a router.
"""
