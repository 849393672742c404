"""A premium key for tests that need one, from the platform's own key store.

The key store is built by the premium-tier work; until a build has it, the tests that need
a key skip and say why, rather than pass without checking anything.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Served, env_for


def premium_key(served: Served) -> str:
    """A premium key from the platform's key store, or a skip saying why there is none."""
    command = [
        str(Path(sys.executable).parent / "bawaba"),
        "keys",
        "create",
        "--org",
        "notebook-tests",
        "--plan",
        "business",
    ]
    result = subprocess.run(
        command,
        env=env_for(served.settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        # typer draws its message in a box: keep the words of the lines that have any.
        lines = [re.sub(r"[^\w\s'`.:-]", "", line).strip() for line in result.stderr.splitlines()]
        reason = next((line for line in reversed(lines) if re.search(r"\w{3}", line)), "none")
        pytest.skip(
            f"premium keys are not available in this build: `bawaba keys create` failed "
            f"({reason}); premium tests need the key store"
        )
    keys = re.findall(r"[A-Za-z0-9_\-.]{32,}", result.stdout)
    if not keys:
        pytest.skip(f"`bawaba keys create` printed no key: {result.stdout!r}")
    return keys[-1]
