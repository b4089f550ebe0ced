"""Each quality metric on inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from models.quality.distance import aligned_distances
from models.quality.diversity import mean_pairwise_distance, pixel_std_ratio
from models.quality.fidelity import binomial_blur, laplacian_pyramid, num_levels, sliced_wasserstein, swd_per_level
from models.quality.masks import count_components, foreground_shares, uncertain_shares
from models.quality.memorisation import NEAR_COPY_THRESHOLD, memorisation
from tests.quality.conftest import DATA, KVASIR, KVASIR_OTHER, RETINA


def _polyp(files=KVASIR, size=(250, 213)) -> np.ndarray:
    return np.asarray(Image.open(DATA / files[0]).convert("RGB").resize(size, Image.BICUBIC))


# --- fidelity --------------------------------------------------------------------------


def test_sliced_wasserstein_known_values():
    g = torch.Generator().manual_seed(0)
    a = torch.tensor([[0.0], [1.0], [2.0]])
    # In 1-D every unit direction is +-1: sorted projections differ by exactly 1.
    # Order does not matter, only the distribution.
    assert sliced_wasserstein(a, [a + 1.0, a.flip(0)], 16, g) == [pytest.approx(1.0), 0.0]
    with pytest.raises(ValueError, match="same shape"):
        sliced_wasserstein(a, [a[:2]], 16, g)


def test_laplacian_pyramid_collapses_back_to_the_image():
    assert num_levels(213, 250) == 4  # 213 -> 107 -> 54 -> 27 (the next, 14, is below 16)
    assert num_levels(41, 49) == 2
    x = torch.rand(2, 3, 45, 50, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    bands = laplacian_pyramid(x, 3)
    assert [tuple(b.shape[2:]) for b in bands] == [(45, 50), (23, 25), (12, 13)]
    # Each band is the image minus its upsampled low-pass, so adding back from the coarsest level recovers it.
    up = bands[-1]
    for band in reversed(bands[:-1]):
        h, w = band.shape[2:]
        z = torch.zeros(*up.shape[:2], 2 * up.shape[2], 2 * up.shape[3], dtype=up.dtype)
        z[..., ::2, ::2] = 4 * up
        up = band + binomial_blur(z)[..., :h, :w]
    torch.testing.assert_close(up, x)


def test_swd_identical_sets_give_zero_and_worse_sets_give_more():
    real = _polyp(size=(125, 107))
    levels = swd_per_level(real, real[None])
    assert [lv["swd"] for lv in levels] == [0.0] * 3
    assert [lv["size"] for lv in levels] == [[107, 125], [54, 63], [27, 32]]
    assert all(lv["real_vs_real"] > 0 for lv in levels)
    blurred = np.asarray(Image.fromarray(real).filter(ImageFilter.GaussianBlur(3)))
    other = _polyp(KVASIR_OTHER, size=(125, 107))
    noise = np.random.default_rng(0).integers(0, 256, real.shape, dtype=np.uint8)
    swd = {name: [lv["swd"] for lv in swd_per_level(real, imgs[None])] for name, imgs in (("blur", blurred), ("other", other), ("noise", noise))}
    # Blur removes the fine bands' detail; noise is far from the real patches at every level.
    assert swd["blur"][0] > 5 * levels[0]["real_vs_real"]
    assert all(n > o for n, o in zip(swd["noise"], swd["other"]))


# --- masks -----------------------------------------------------------------------------


def test_components_known_counts():
    m = np.zeros((8, 10), dtype=bool)
    assert count_components(m) == 0
    m[1:3, 1:3] = True
    m[5:7, 6:9] = True
    assert count_components(m) == 2
    m[3, 3] = True  # touches the first square diagonally: 8-connected, still 2
    assert count_components(m) == 2
    m[0, 8] = True  # an isolated pixel
    assert count_components(m) == 3
    ring = np.ones((7, 7), dtype=bool)
    ring[2:5, 2:5] = False
    assert count_components(ring) == 1
    u = np.zeros((5, 7), dtype=bool)
    u[:, 0] = u[:, 6] = u[4, :] = True  # two arms that only join at the bottom row
    assert count_components(u) == 1
    assert count_components(np.eye(6, dtype=bool)) == 1
    assert count_components(np.ones((3, 3), dtype=bool)) == 1


def test_components_match_scipy_on_random_and_real_masks():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(0)
    masks = [rng.random((40, 50)) < p for p in (0.2, 0.45, 0.6)]
    masks.append(np.asarray(Image.open(DATA / RETINA[1]).convert("L")) > 127)  # a vessel tree
    for m in masks:
        assert count_components(m) == ndimage.label(m, structure=np.ones((3, 3)))[1]


def test_foreground_and_uncertain_shares():
    masks = np.zeros((3, 4, 5), dtype=np.uint8)
    masks[1, :2] = 255
    masks[2] = 1
    assert foreground_shares(masks).tolist() == [0.0, 0.5, 1.0]
    raw = np.array([[[0.0, 0.25, 0.26, 0.5]], [[0.74, 0.75, 1.0, 0.9]]])
    assert uncertain_shares(raw).tolist() == [0.5, 0.25]


# --- memorisation ------------------------------------------------------------------------


def test_copies_are_flagged_and_other_images_are_not():
    real = _polyp()
    shifted = np.zeros_like(real)
    shifted[4:, 3:] = real[:-4, :-3]  # 4 px down, 3 px right, black border
    noisy = np.clip(real + np.random.default_rng(0).normal(0, 10, real.shape), 0, 255).astype(np.uint8)
    candidates = np.stack([real, shifted, real[:, ::-1], noisy, _polyp(KVASIR_OTHER)])
    result = memorisation(real, candidates)
    assert result[0]["distance"] == pytest.approx(0.0, abs=1e-6)
    assert result[1]["distance"] < 0.5 * NEAR_COPY_THRESHOLD  # the best shift undoes the offset
    assert result[2]["distance_mirrored"] == pytest.approx(0.0, abs=1e-6) and result[2]["distance"] > NEAR_COPY_THRESHOLD
    assert [r["near_copy"] for r in result] == [True, True, True, True, False]
    assert result[4]["distance"] > 0.5  # another polyp: 0.78


def test_distance_units():
    # Black vs white is an RMSE of 1; over the real image's std of 0.5 that is 2.
    black, white = torch.zeros(1, 3, 20, 20), torch.ones(1, 3, 20, 20)
    assert aligned_distances(black, white, 0.5).item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="same size"):
        aligned_distances(black, torch.zeros(1, 3, 20, 21), 0.5)


# --- diversity ---------------------------------------------------------------------------


def test_diversity_known_values():
    half = np.zeros((10, 12, 3), dtype=np.uint8)
    half[:, 6:] = 255  # pixel std 0.5
    black, white = np.zeros_like(half), np.full_like(half, 255)
    # Each pixel is 0 in one sample and 1 in the other: std 0.5, the real image's std too.
    assert pixel_std_ratio(half, np.stack([black, white])) == pytest.approx(1.0)
    assert pixel_std_ratio(half, np.stack([half, half, half])) == 0.0
    assert mean_pairwise_distance(half, np.stack([half, half, half])) == 0.0
    assert mean_pairwise_distance(half, np.stack([black, white])) == pytest.approx(2.0)
