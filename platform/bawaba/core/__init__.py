"""The foundations the writer and the readers share: the release layout on storage
(``versions``) and the backends behind small interfaces (release storage, key store, limit
counters, the Redis client), independent of the web app and of the publishing pipeline."""
