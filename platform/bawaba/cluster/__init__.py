"""Bawaba past one machine, run on one: the servers a cluster of replicas needs (S3 object
storage, PostgreSQL, nginx in front of ``bawaba serve`` replicas), started on loopback.

``bawaba demo --cluster`` runs them; the cluster tests start the same launchers, so what the
tests show is what the demo runs. In production each of these is a real service, and the
replicas are pointed at it by ``BAWABA_DATASETS_URL``, ``BAWABA_KEY_STORE_URL`` and
``BAWABA_TRUSTED_PROXIES`` (README.md, "Running past one machine").
"""
