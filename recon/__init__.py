"""Distance-driven tomosynthesis reconstruction in JAX (2D and 3D, differentiable).

Lengths in micrometres; volumes are attenuation coefficients (1/um) indexed
``(nz, ny, nx)`` with slice 0 the lowest height; projections are line integrals
``(views, rows, cols)``. See :mod:`recon.geometry` for the world frame and ASTRA mapping.
"""

from recon.geometry import Geometry, circular, from_astra, tomosynthesis, tomosynthesis_2d
from recon.projector import Projector, back_project, forward_project

__all__ = ["Geometry", "Projector", "back_project", "circular", "forward_project", "from_astra",
           "tomosynthesis", "tomosynthesis_2d"]

from recon.algorithms import (IterationState, Slices, cgls, fbp, gradient,  # noqa: E402
                              reconstruct, sart, shift_and_add, sirt)

__all__ += ["IterationState", "Slices", "cgls", "fbp", "gradient", "reconstruct", "sart",
            "shift_and_add", "sirt"]
