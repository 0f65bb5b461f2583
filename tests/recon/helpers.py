"""Shared helpers for recon tests: random geometries of fixed shapes (one compilation each)."""

import numpy as np


import recon

TOMO2D = dict(det_cols=40, vol_shape=(6, 30))
TOMO3D = dict(det_shape=(16, 20), vol_shape=(4, 10, 12))


def tomo2d(n_views=5, arc_deg=40.0, radius=2000.0, pixel=1.0, voxel=(1.2, 1.1), z0=5.0):
    nz = TOMO2D["vol_shape"][0]
    return recon.tomosynthesis_2d(n_views=n_views, arc_deg=arc_deg, source_distance_um=radius,
                                  det_cols=TOMO2D["det_cols"], det_pixel_um=pixel,
                                  vol_shape=TOMO2D["vol_shape"], voxel_um=voxel,
                                  z_range=(z0, z0 + nz * voxel[0]))


def tomo3d(n_views=4, arc_deg=30.0, radius=500.0, pixel=1.0, voxel=(1.0, 1.5, 1.3), z0=3.0):
    nz = TOMO3D["vol_shape"][0]
    return recon.tomosynthesis(n_views=n_views, arc_deg=arc_deg, source_distance_um=radius,
                               det_shape=TOMO3D["det_shape"], det_pixel_um=pixel,
                               vol_shape=TOMO3D["vol_shape"], voxel_um=voxel,
                               z_range=(z0, z0 + nz * voxel[0]))


def general2d(angles, dso=60.0, dod=30.0, width=1.3, shift=(0.0, 0.0)):
    pg = {"type": "fanflat", "DetectorWidth": width, "DetectorCount": 50,
          "ProjectionAngles": np.asarray(angles), "DistanceOriginSource": dso,
          "DistanceOriginDetector": dod}
    vg = {"GridRowCount": 20, "GridColCount": 24,
          "option": {"WindowMinX": -12.0 + shift[0], "WindowMaxX": 12.0 + shift[0],
                     "WindowMinY": -10.0 + shift[1], "WindowMaxY": 10.0 + shift[1]}}
    return recon.from_astra(pg, vg)


def general3d(angles, dso=60.0, dod=30.0, spacing=(1.3, 1.1), tilt=0.0):
    """Cone-beam circular geometry; ``tilt`` rotates u and v about the detector normal."""
    pg = {"type": "cone", "DetectorSpacingX": spacing[0], "DetectorSpacingY": spacing[1],
          "DetectorRowCount": 18, "DetectorColCount": 30, "ProjectionAngles": np.asarray(angles),
          "DistanceOriginSource": dso, "DistanceOriginDetector": dod}
    vg = {"GridRowCount": 12, "GridColCount": 14, "GridSliceCount": 8}
    g = recon.from_astra(pg, vg)
    if tilt:
        vec = g.vectors.copy()
        u, v = vec[:, 6:9].copy(), vec[:, 9:12].copy()
        c, s = np.cos(tilt), np.sin(tilt)
        vec[:, 6:9], vec[:, 9:12] = c * u + s * v * spacing[0] / spacing[1], -s * u * spacing[1] / spacing[0] + c * v
        g = recon.Geometry(vectors=vec, det_shape=g.det_shape, vol_shape=g.vol_shape,
                           vol_window=g.vol_window)
    return g


