"""Telling concrete values from JAX tracers.

Validation (range checks, ``float(...)``) needs concrete values; under ``jax.jit`` or
``jax.grad`` the same arguments arrive as tracers and are passed through unchecked, so
the physics stays differentiable. Every module asks this one question the same way.
"""

from __future__ import annotations

import jax


def is_concrete(value) -> bool:
    """True unless ``value`` is a JAX tracer (inside jit/grad/vmap)."""
    return not isinstance(value, jax.core.Tracer)
