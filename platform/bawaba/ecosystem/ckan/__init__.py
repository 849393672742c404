"""A read-only subset of CKAN's Action API, so CKAN clients and harvesters work unchanged.

Datasets are CKAN packages, their downloads are resources, departments are organizations,
and ``datastore_search`` reads rows through the open API's query compiler.
"""
