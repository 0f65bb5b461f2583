"""Distance-driven tomosynthesis reconstruction in JAX (2D and 3D, differentiable).

Lengths in micrometres; volumes are attenuation coefficients (1/um) indexed
``(nz, ny, nx)`` with slice 0 the lowest height; projections are line integrals
``(views, rows, cols)``. See :mod:`recon.geometry` for the world frame and ASTRA mapping.
"""

from recon.geometry import Geometry, from_astra, tomosynthesis, tomosynthesis_2d
from recon.projector import back_project, forward_project

__all__ = ["Geometry", "back_project", "forward_project", "from_astra", "tomosynthesis",
           "tomosynthesis_2d"]

from recon.algorithms import (IterationState, Slices, fbp, gradient, reconstruct,  # noqa: E402
                              sart, shift_and_add, sirt)

__all__ += ["IterationState", "Slices", "fbp", "gradient", "reconstruct", "sart", "shift_and_add",
            "sirt"]
