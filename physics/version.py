"""Which code produced a result: the release plus a digest of the product's source.

Recorded in data-set manifests and part of every cache key of study points, so a new
release - or an edited source file in a development checkout - never reuses results
computed by other code.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

#: The product's packages, whose ``*.py`` files the digest covers.
PACKAGES = ("physics", "recon", "learn", "twin")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``"<release>+<source digest>"``, e.g. ``"0.3.0+1a2b3c4d5e6f"`` (release ``unknown``
    when the package is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("xray-lens-twin")
    except PackageNotFoundError:
        release = "unknown"
    return f"{release}+{source_digest(Path(__file__).resolve().parents[1])}"


def source_digest(root: Path, packages=PACKAGES) -> str:
    """SHA-256 (12 hex digits) of the names and bytes of every ``*.py`` under ``root/package``."""
    digest = hashlib.sha256()
    for package in packages:
        for source in sorted((Path(root) / package).rglob("*.py")):
            digest.update(source.relative_to(root).as_posix().encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:12]
