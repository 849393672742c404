"""The API's routes, one module per area: the catalog, the data paths, operations."""
