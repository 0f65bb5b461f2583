"""physics.imageio.read_image / image_info / member_path: one reader for TIFF, PNG and JPEG."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st

from physics.errors import InputFileError, OptionError
from physics.imageio import LUMA_WEIGHTS, image_info, member_path, read_image, write_tiff

IMG = (np.arange(300 * 400) % 251).reshape(300, 400).astype(np.uint16) * 7


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """The same image stored contiguous, in zlib strips, and in zlib tiles."""
    d = tmp_path_factory.mktemp("layouts")
    tifffile.imwrite(d / "plain.tif", IMG)
    tifffile.imwrite(d / "strips.tif", IMG, compression="zlib", rowsperstrip=37)
    tifffile.imwrite(d / "tiles.tif", IMG, compression="zlib", tile=(64, 128))
    return d


@settings(max_examples=40, deadline=None)
@given(x0=st.integers(0, 398), y0=st.integers(0, 298), w=st.integers(1, 400), h=st.integers(1, 300),
       name=st.sampled_from(["plain.tif", "strips.tif", "tiles.tif"]))
def test_region_reads_equal_the_crop_of_the_whole(layouts, x0, y0, w, h, name):
    x1, y1 = min(x0 + w, 400), min(y0 + h, 300)
    part = read_image(layouts / name, region=(x0, y0, x1, y1)).data
    np.testing.assert_array_equal(part, IMG[y0:y1, x0:x1])


def test_region_read_cost_counts_only_the_segments_it_decodes(layouts):
    tiles, whole = image_info(layouts / "tiles.tif"), image_info(layouts / "plain.tif")
    assert tiles.segment == (64, 128) and image_info(layouts / "strips.tif").segment == (37, 400)
    small = (10, 10, 50, 50)  # inside one tile
    assert tiles.read_bytes(region=small) < 64 * 128 * 2 + 40 * 40 * 6 + 1
    assert whole.read_bytes() >= IMG.nbytes


def test_planes_and_stacks(tmp_path):
    stack = np.random.default_rng(0).random((3, 8, 9)).astype(np.float32)
    write_tiff(tmp_path / "s.tif", stack, pixel_size_um=0.5)
    info = image_info(tmp_path / "s.tif")
    assert info.shape == (3, 8, 9) and info.planes == 3
    np.testing.assert_array_equal(read_image(tmp_path / "s.tif", plane=2).data, stack[2])
    np.testing.assert_array_equal(read_image(tmp_path / "s.tif", plane=1, region=(2, 3, 7, 8)).data,
                                  stack[1, 3:8, 2:7])
    with pytest.raises(OptionError, match="--slice"):
        read_image(tmp_path / "s.tif", plane=3)
    with pytest.raises(OptionError, match="--roi"):
        read_image(tmp_path / "s.tif", region=(0, 0, 10, 5))


def test_colour_becomes_grey_one_way(tmp_path):
    from PIL import Image

    rgb = np.random.default_rng(1).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    expected = rgb.astype(np.float64) @ np.array(LUMA_WEIGHTS)
    tifffile.imwrite(tmp_path / "c.tif", rgb, photometric="rgb")
    Image.fromarray(rgb).save(tmp_path / "c.png")
    Image.fromarray(np.dstack([rgb, np.full((6, 5), 255, np.uint8)])).save(tmp_path / "a.png")
    for name in ("c.tif", "c.png", "a.png"):
        got = read_image(tmp_path / name).data
        assert got.shape == (6, 5)
        np.testing.assert_allclose(got, expected, atol=1e-3)
    Image.fromarray(rgb).save(tmp_path / "c.jpg", quality=95)  # lossy: close, not equal
    assert np.abs(read_image(tmp_path / "c.jpg").data - expected).mean() < 12


def test_header_only_sizing_of_a_huge_image(tmp_path):
    """A 20000^2 image is sized from its header; nothing is decoded."""
    path = tmp_path / "huge.tif"
    tile = np.zeros((1024, 1024), np.uint8)
    tifffile.imwrite(path, (tile for _ in range(20 * 20)), shape=(20000, 20000), dtype=np.uint8,
                     tile=(1024, 1024), compression="zlib")
    info = image_info(path)
    assert info.shape == (20000, 20000) and info.read_bytes() > 4e8


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "", "..", "a\\..\\b"])
def test_member_path_refuses_names_leading_out(tmp_path, name):
    with pytest.raises(InputFileError, match="key"):
        member_path(tmp_path, name, key="key")


def test_member_path_accepts_names_inside(tmp_path):
    assert member_path(tmp_path, "a.npz", key="k") == tmp_path / "a.npz"
    assert member_path(tmp_path, "sub/a.npz", key="k") == tmp_path / "sub" / "a.npz"
    (tmp_path / "out").symlink_to(tmp_path.parent)
    with pytest.raises(InputFileError, match="leads outside"):
        member_path(tmp_path, "out/x", key="k")


def test_unsupported_and_missing_files(tmp_path):
    (tmp_path / "a.bmp").write_bytes(b"BM")
    with pytest.raises(InputFileError, match="unsupported image type"):
        read_image(tmp_path / "a.bmp")
    with pytest.raises(InputFileError, match="not found"):
        image_info(tmp_path / "missing.png")
    (tmp_path / "d.tif").mkdir()
    with pytest.raises(InputFileError, match="is a folder"):
        read_image(tmp_path / "d.tif")
