"""The memory budget: every command sizes its work before allocating and refuses beyond it.

The budget defaults to :data:`DEFAULT_SHARE` of the machine's physical memory
(assumed: on a shared lab machine a single run should leave half of the memory to
the other users and the system); ``--max-memory "4 GB"`` sets it. Estimates count
the large arrays a command holds at its peak (images, fields, volumes, shards), each
named with the keys or options that decide its size, so a refusal says what to
change. They are estimates of the dominant arrays, not of every byte: the measured
ratio of peak resident memory to the estimate is in the README (Robustness).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from physics.errors import ResourceError

#: Share of the physical memory one command may use by default (see module docstring).
DEFAULT_SHARE = 0.5


def physical_memory() -> int:
    """Bytes of physical memory (``sysconf``); 8 GiB assumed where it is not available."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 8 * 2**30


def default_budget() -> int:
    return int(DEFAULT_SHARE * physical_memory())


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"`` (binary prefixes, 3 significant digits)."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"


@dataclass
class Estimate:
    """Peak memory of a piece of work: named parts, each with the keys that size it."""

    what: str
    parts: list = field(default_factory=list)

    def add(self, name: str, nbytes: float, *keys: str) -> "Estimate":
        self.parts.append((name, float(max(nbytes, 0.0)), tuple(keys)))
        return self

    @property
    def total(self) -> float:
        return sum(n for _, n, _ in self.parts)

    def keys(self) -> list[str]:
        """Keys of the parts that make at least a fifth of the total, largest first, no repeats."""
        seen: list[str] = []
        for _, n, keys in sorted(self.parts, key=lambda p: -p[1]):
            if n >= 0.2 * self.total:
                seen += [k for k in keys if k not in seen]
        return seen


def check(estimate: Estimate, budget: int | None) -> Estimate:
    """Raise :class:`ResourceError` if ``estimate`` exceeds ``budget`` (None: the default)."""
    limit = default_budget() if budget is None else int(budget)
    if estimate.total <= limit:
        return estimate
    largest = sorted(estimate.parts, key=lambda p: -p[1])[:3]
    detail = ", ".join(f"{name} {format_bytes(n)}" for name, n, _ in largest if n > 0)
    source = ("--max-memory" if budget is not None
              else f"{DEFAULT_SHARE:.0%} of the physical memory; --max-memory to change")
    keys = ", ".join(estimate.keys()) or estimate.what
    raise ResourceError(f"{keys}: {estimate.what} would need about {format_bytes(estimate.total)} "
                        f"({detail}), more than the memory budget of {format_bytes(limit)} "
                        f"({source})")


def add_option(parser) -> None:
    """``--max-memory SIZE`` on a subcommand."""
    parser.add_argument("--max-memory", default=None, metavar='"4 GB"',
                        help="memory budget with unit (B, MB, GB, MiB, GiB); work estimated to need "
                             f"more is refused before it starts (default: {DEFAULT_SHARE * 100:.0f}%% of the "
                             "physical memory)")


def from_args(args) -> int | None:
    """The budget in bytes from ``args.max_memory`` (None: the default share)."""
    text = getattr(args, "max_memory", None)
    if text is None:
        return None
    from physics.units import parse_bytes

    return parse_bytes(text, key="--max-memory")
