"""Make the committed tooth sinogram and its ASTRA reference reconstructions (run once).

Needs h5py and astra-toolbox (``pip install h5py .[astra]``), neither a dependency of the
tests: the outputs are committed. Run from the repository root::

    python tests/data/sinogram/make_reference.py TOOTH_H5

where TOOTH_H5 is ``source/tomopy/data/tooth.h5`` from github.com/tomopy/tomopy (see README.md).
"""

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROW = 0            # detector row kept (the file has 2)
SIRT_ITERATIONS = 20
REGION = (slice(160, 464), slice(160, 464))  # the tooth; the references are kept only here


def load_sinogram(path):
    import h5py

    with h5py.File(path, "r") as f:
        data = f["exchange/data"][:, ROW, :].astype(np.float64)
        white = f["exchange/data_white"][:, ROW, :].astype(np.float64).mean(0)
        dark = f["exchange/data_dark"][:, ROW, :].astype(np.float64).mean(0)
        theta_deg = f["exchange/theta"][:].astype(np.float64)
    transmission = (data - dark) / (white - dark)
    if np.any(transmission <= 0):
        raise SystemExit("non-positive transmission after flat/dark correction")
    return (-np.log(transmission)).astype(np.float32), np.deg2rad(theta_deg)


def rotation_centre(sino, theta):
    """Centre of rotation in pixels from the sinusoid of each view's centre of mass.

    For parallel rays the centre of mass of a projection is ``c0 + a cos t + b sin t``
    (the object's centre of mass projected), so a least-squares fit gives ``c0``.
    """
    cols = np.arange(sino.shape[1]) + 0.0
    mass = sino.sum(1)
    com = (sino * cols).sum(1) / mass
    design = np.stack([np.ones_like(theta), np.cos(theta), np.sin(theta)], 1)
    return float(np.linalg.lstsq(design, com, rcond=None)[0][0])


def crop_to_centre(sino, centre):
    """The widest column range whose middle is the rotation centre rounded to whole pixels.

    ASTRA's CPU FBP takes only a plain ``parallel`` geometry (axis at the detector centre),
    so the columns are cropped rather than the detector shifted; the residual offset is
    ``|centre - round(centre)| <= 0.5`` px.
    """
    c = int(round(centre))
    half = min(c, sino.shape[1] - 1 - c)
    return sino[:, c - half: c + half + 1], (c - half, c + half + 1)


def main(path):
    import astra

    sino, theta = load_sinogram(path)
    centre = rotation_centre(sino, theta)
    sino, crop = crop_to_centre(sino, centre)
    cols = sino.shape[1]
    pg, vg = astra.create_proj_geom("parallel", 1.0, cols, theta), astra.create_vol_geom(cols, cols)
    np.save(HERE / "tooth_sinogram.npy", sino)
    np.save(HERE / "tooth_theta_rad.npy", theta)
    sid = astra.data2d.create("-sino", pg, sino)
    out = {}
    # FBP: ramp x Hann (recon.fbp's default apodisation) on the strip (area) projector;
    # SIRT: unconstrained, relaxation 1, on the linear (Joseph) projector.
    for name, config in (("fbp", {"type": "FBP", "FilterType": "hann", "projector": "strip"}),
                         ("sirt", {"type": "SIRT", "iterations": SIRT_ITERATIONS,
                                   "projector": "linear"})):
        rid = astra.data2d.create("-vol", vg, 0.0)
        cfg = astra.astra_dict(config.pop("type"))
        cfg.update(ProjectionDataId=sid, ReconstructionDataId=rid,
                   ProjectorId=astra.create_projector(config.pop("projector"), pg, vg))
        if "FilterType" in config:
            cfg["FilterType"] = config["FilterType"]
        alg = astra.algorithm.create(cfg)
        astra.algorithm.run(alg, config.get("iterations", 1))
        out[name] = astra.data2d.get(rid).astype(np.float32)[REGION]
        np.save(HERE / f"tooth_astra_{name}.npy", out[name])
    meta = {"row": ROW, "rotation_centre_px": centre, "columns_kept": list(crop), "sirt_iterations": SIRT_ITERATIONS,
            "reference_region": {"rows": [160, 464], "cols": [160, 464]},
            "astra_version": astra.__version__, "fbp": "FBP (CPU), FilterType hann, strip projector",
            "sirt": "SIRT (CPU), linear projector, no constraint",
            "proj_geom": {"type": "parallel", "DetectorCount": cols, "DetectorWidth": 1.0,
                          "ProjectionAngles": "tooth_theta_rad.npy"},
            "vol_geom": {"GridRowCount": cols, "GridColCount": cols}}
    (HERE / "tooth_reference.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"centre {centre:.3f} px; wrote {HERE}")


if __name__ == "__main__":
    main(sys.argv[1])
