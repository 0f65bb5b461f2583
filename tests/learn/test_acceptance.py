"""Issue 8 acceptance on the real held-out test set with the shipped checkpoint.

The degradation of the issue (x2, blur 1.0 LR px, noise 0.01 of the 0..1 scale) and the
network given nothing but the image (noise estimated, default blur), as `twin enhance`
runs. To keep the runtime near a minute the test uses a 160x160 crop of every test image
(the centre; all categories, both low-contrast photographs); the README's figures are
`twin evaluate --images tests/data/sr_testset` on the whole images.
"""

from pathlib import Path

import pytest

from learn import Degradation, default_checkpoint_path, evaluate, load_testset

TESTSET = Path(__file__).resolve().parents[1] / "data" / "sr_testset"
CROP = 160


def centre_crop(x, n=CROP):
    y0, x0 = (x.shape[0] - n) // 2, (x.shape[1] - n) // 2
    return x[y0:y0 + n, x0:x0 + n]


@pytest.fixture(scope="module")
def result():
    images = {name: centre_crop(x) for name, x in load_testset(TESTSET).items()}
    return evaluate(default_checkpoint_path(), images, degradation=Degradation(2, 1.0, 0.01), seed=0)


def test_never_more_than_0p3_db_below_bicubic_on_any_image(result):
    assert result["n_images"] == 7
    for r in result["images"]:
        assert r["gain_db"] >= -0.3, r["name"]
        assert r["noise_source"] == "estimated from the image", r["name"]
    # The cell crop is so flat that 0.01 of the grey scale is 0.10 in its own normalised
    # units, above the trained 0.08: the widened normalisation handles it (and says so).
    cell = next(r for r in result["images"] if r["name"] == "micro_cell.png")
    assert cell["warnings"] and "wider range" in cell["warnings"][0]


def test_mean_gains_over_bicubic_and_wiener(result):
    cats = result["categories"]
    assert set(cats) == {"photo", "text", "micro"}
    assert cats["photo"]["gain_db"] >= 2.0
    assert cats["text"]["gain_db"] >= 2.0
    assert cats["micro"]["gain_db"] >= 1.0  # measured +1.6 dB, see the xfail below
    assert result["network_minus_wiener_db"] >= 0.5


@pytest.mark.xfail(strict=True, reason="issue 8's +3 dB on micrographs is not reached by the "
                   "shipped 10x32 network (+1.6 dB; docs/readme/learn.md)")
def test_micrograph_gain_reaches_the_issue_target(result):
    assert result["categories"]["micro"]["gain_db"] >= 3.0
