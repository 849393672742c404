"""The memory allocator's settings for an ingest run.

Polars allocates through its own jemalloc, which it sets to hand freed pages back to the
system within a second or so. An ingest frees and re-allocates hundreds of MB per batch, so
most of those pages come straight back as page faults. Keeping freed pages for ten seconds
instead saves CPU time for a few hundred MB more peak RSS, which the 2 GB an ingest may use
leaves room for (bench/RESULTS.md, Ingest).
"""

from __future__ import annotations

import os
import sys

# jemalloc reads its settings once, when Polars' library loads: Polars writes its defaults
# into this variable just before, after any value already there; the last setting of a
# name wins.
VARIABLE = "_RJEM_MALLOC_CONF"
KEEP_FREED_PAGES = "dirty_decay_ms:10000,muzzy_decay_ms:10000"


def keep_freed_pages() -> bool:
    """Set the allocator to keep freed pages a while; True if the setting applies, False
    if Polars was loaded already (too late).

    Goes after an inherited value: a parent that imported Polars passes Polars' defaults
    on to its children (the benchmark does), and those would otherwise decide."""
    if "polars" in sys.modules:
        return False
    inherited = os.environ.get(VARIABLE)
    os.environ[VARIABLE] = f"{inherited},{KEEP_FREED_PAGES}" if inherited else KEEP_FREED_PAGES
    return True
