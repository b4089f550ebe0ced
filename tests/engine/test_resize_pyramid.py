"""The reference resize and the scale pyramid, against the numbers in SPEC.md."""

from __future__ import annotations

import math

import pytest
import torch

from models import load_pair, plan_pyramid, preset
from models.inputs import pair_to_tensor
from models.pyramid import build_reals
from models.resize import _axis_weights, resize
from tests.conftest import kvasir_pair


def test_pyramid_of_the_622x529_polyp_matches_spec():
    p = plan_pyramid(529, 622, 25, 250, 0.75)
    assert p.scale1 == pytest.approx(0.4019, abs=1e-4)
    assert p.stop_scale == 8 and p.num_scales == 9
    assert p.scale_factor == pytest.approx(0.7651, abs=1e-4)
    assert p.sizes[0] == (25, 30) and p.sizes[-1] == (213, 250)


def test_pyramid_with_max_size_64_matches_the_reference_fixture():
    p = plan_pyramid(529, 622, 25, 64, 0.75)
    assert p.sizes == ((25, 30), (31, 36), (38, 44), (46, 53), (55, 64))
    assert p.scale_factor == 0.8210967436686386  # meta.json of the reference fixture, to the last bit


def test_build_reals_gives_every_scale_its_planned_size(shared_data):
    pair = load_pair(*kvasir_pair())
    config = preset("fast")
    p = plan_pyramid(pair.height, pair.width, config.min_size, config.max_size, config.scale_factor_init)
    reals = build_reals(pair_to_tensor(pair), p, "float")
    assert [tuple(r.shape[-2:]) for r in reals] == list(p.sizes)
    assert all(r.min() >= -1 and r.max() <= 1 for r in reals)


@pytest.mark.parametrize("in_len,scale", [(30, 1 / 0.82), (250, 0.4), (622, 0.1029), (41, 1.33)])
def test_axis_weights_rows_sum_to_one(in_len, scale):
    out_len = math.ceil(in_len * scale)
    w = _axis_weights(in_len, out_len, scale)
    assert w.shape == (out_len, in_len)
    torch.testing.assert_close(torch.from_numpy(w.sum(axis=1)), torch.ones(out_len, dtype=torch.float64))


@pytest.mark.parametrize("mode", ["float", "reference"])
def test_resize_keeps_constants_and_uses_ceil_sizes(mode):
    x = torch.full((2, 4, 25, 30), 0.2)
    up = resize(x, 1 / 0.8210967436686386, mode)
    assert up.shape == (2, 4, 31, 37)
    expected = 0.2 if mode == "float" else (int(255 * 0.6) / 255 - 0.5) * 2  # uint8 truncation first
    torch.testing.assert_close(up, torch.full_like(up, expected), atol=1e-5, rtol=0)


def test_reference_mode_truncates_to_uint8_first():
    x = torch.linspace(-1, 1, 64).reshape(1, 1, 8, 8)
    truncated = (255 * (x + 1) / 2).to(torch.uint8).float() / 255 * 2 - 1
    torch.testing.assert_close(resize(x, 1.0, "reference"), truncated, atol=1e-6, rtol=0)
    torch.testing.assert_close(resize(x, 1.0, "float"), x)


def test_downscale_antialiases_a_checkerboard_to_its_mean():
    board = (torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2 * 2.0 - 1.0  # +-1 checkerboard
    small = resize(board[None, None], 0.25, "float")
    assert small.shape == (1, 1, 16, 16)
    assert small[..., 2:-2, 2:-2].abs().max() < 0.05


def test_resize_matches_a_direct_separable_sum():
    """The matrix form equals summing kernel taps pixel by pixel (one axis at a time)."""
    torch.manual_seed(0)
    x = torch.rand(1, 1, 9, 11) * 2 - 1
    scale = 1.3
    out = resize(x, scale, "float")
    wh = torch.from_numpy(_axis_weights(9, 12, scale)).float()
    ww = torch.from_numpy(_axis_weights(11, 15, scale)).float()
    direct = torch.zeros(12, 15)
    for i in range(12):
        for j in range(15):
            direct[i, j] = sum(wh[i, a] * ww[j, b] * x[0, 0, a, b] for a in range(9) for b in range(11))
    torch.testing.assert_close(out[0, 0], direct.clamp(-1, 1), atol=1e-5, rtol=0)
