"""Bawaba in the formats open-data tools already speak: CKAN's Action API, DCAT catalogs
(DCAT-US 1.1 ``data.json`` and DCAT-AP 3 in Turtle and JSON-LD) and Frictionless Data
Packages. Each is a thin view over the same dataset documents and query path as the open
API; none of them reads data another way.
"""
