"""The tomosynthesis FBP filter: ramp x spectrum apodisation x slice-thickness window.

All three act along the detector columns (the direction of tube travel, x) and are
built on the object-plane sampling ``tau = detector pixel / magnification``:

* **ramp** ``|f|``: the band-limited Ram-Lak kernel sampled in space and transformed
  (Kak & Slaney, *Principles of Computerized Tomographic Imaging*, 1988, eq. 3.61), which
  keeps the DC term right on a finite detector;
* **spectrum apodisation** ``A(f) = (1 + cos(pi f / f_a)) / 2`` for ``|f| < f_a``, with
  ``f_a = apodisation_cutoff * f_Nyquist``: a Hann window that limits noise;
* **slice-thickness window** ``T(f) = (1 + cos(pi f / f_t)) / 2`` for ``|f| < f_t``: with a
  total arc ``alpha``, detail of spatial frequency ``f`` along x is localised in depth to
  about ``1 / (2 f tan(alpha / 2))``; cutting at ``f_t = 1 / (2 t tan(alpha / 2))`` keeps
  only detail that appears over a slab of at least ``t``, i.e. slices of thickness ~``t``
  (the role of the slice-thickness filter of Mertelmeier et al., SPIE 6142, 2006).
"""

from __future__ import annotations

import math

import numpy as np


def fbp_filter(n_cols: int, tau_um: float, *, arc_deg: float, apodisation_cutoff: float = 1.0,
               slice_thickness_um: float | None = None):
    """Frequency response for ``numpy.fft.rfft`` of length ``n_fft`` (returned with it).

    Parameters
    ----------
    n_cols : int
        Detector columns; the signal is zero-padded to a power of two >= 2 n_cols.
    tau_um : float
        Sampling step on the object plane in um (detector pixel / magnification).
    arc_deg : float
        Total arc angle of the scan (for the slice-thickness window).
    apodisation_cutoff : float
        Hann cut-off as a fraction of the Nyquist frequency, in (0, 1].
    slice_thickness_um : float, optional
        Target slice thickness; None leaves the window out.

    Returns
    -------
    (n_fft, H) with H real, shape ``(n_fft // 2 + 1,)``, in cycles/um (ramp units).
    """
    if not (0 < apodisation_cutoff <= 1):
        raise ValueError(f"apodisation_cutoff: expected a fraction of Nyquist in (0, 1], "
                         f"got {apodisation_cutoff!r}")
    if slice_thickness_um is not None and not (slice_thickness_um > 0):
        raise ValueError(f"slice_thickness_um: expected a positive thickness, got {slice_thickness_um!r}")
    n_fft = 1 << max(1, int(math.ceil(math.log2(2 * n_cols))))
    k = np.arange(n_fft)
    k = np.where(k > n_fft // 2, k - n_fft, k)
    h = np.zeros(n_fft)
    h[k == 0] = 1.0 / (4 * tau_um**2)
    odd = k % 2 == 1
    h[odd] = -1.0 / (np.pi * k[odd] * tau_um) ** 2
    ramp = tau_um * np.real(np.fft.rfft(h))
    f = np.fft.rfftfreq(n_fft, d=tau_um)
    f_nyq = 0.5 / tau_um
    apod = _hann(f, apodisation_cutoff * f_nyq)
    window = np.ones_like(f)
    if slice_thickness_um is not None and arc_deg > 0:
        f_t = 1.0 / (2 * slice_thickness_um * math.tan(math.radians(arc_deg) / 2))
        window = _hann(f, f_t)
    return n_fft, ramp * apod * window


def _hann(f, cutoff):
    return np.where(np.abs(f) < cutoff, 0.5 * (1 + np.cos(np.pi * f / cutoff)), 0.0)
