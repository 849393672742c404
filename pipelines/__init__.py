"""Department pipelines: one file per department, loaded by ``bawaba.ingest.registry``."""
