"""Generation: batching, seeds, gen_start_scale, other output sizes, and the written pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from models import generate, load_model, write_pairs


@pytest.fixture(scope="module")
def model(smoke_model_dir):
    return load_model(smoke_model_dir)


def test_samples_do_not_depend_on_batch_size(model):
    one_batch = generate(model, 6, seed=5, batch_size=16)
    small_batches = generate(model, 6, seed=5, batch_size=4)
    torch.testing.assert_close(one_batch, small_batches, rtol=0, atol=1e-5)
    assert one_batch.shape == (6, 4, *model.sizes[-1])


def test_seed_fixes_samples_and_samples_differ(model):
    a, b = generate(model, 4, seed=1), generate(model, 4, seed=2)
    torch.testing.assert_close(a, generate(model, 4, seed=1))
    assert (a - b).abs().mean() > 1e-3
    assert (a[0] - a[1]).abs().mean() > 1e-3


def test_higher_gen_start_scale_keeps_samples_closer_together(model):
    spread = [generate(model, 8, seed=0, gen_start_scale=k).std(dim=0).mean().item() for k in (0, model.num_scales - 1)]
    assert spread[1] < spread[0]


def test_other_output_shapes(model):
    out = generate(model, 2, seed=0, scale_v=1.0, scale_h=1.5)
    h, w = model.sizes[-1]
    assert out.shape == (2, 4, h, round(w * 1.5))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(gen_start_scale=99), "gen_start_scale must be between 0 and 3"),
        (dict(gen_start_scale=-1), "gen_start_scale must be between 0 and 3"),
        (dict(scale_h=10.0), "scale_h must be between 0.25 and 4.0"),
        (dict(scale_v=0.1), "scale_v must be between 0.25 and 4.0"),
        (dict(gen_start_scale=1, scale_v=2.0), "use gen_start_scale 0"),
    ],
)
def test_invalid_arguments_are_named(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(model, 2, seed=0, **kwargs)
    with pytest.raises(ValueError, match="number of samples"):
        generate(model, 0)


def test_written_pairs_have_matching_names_sizes_and_binary_masks(model, tmp_path):
    samples = generate(model, 3, seed=0)
    names = ["a", "b", "c"]
    write_pairs(samples, tmp_path, names)
    for name in names:
        image = np.asarray(Image.open(tmp_path / "images" / f"{name}.png"))
        mask = np.asarray(Image.open(tmp_path / "masks" / f"{name}.png"))
        assert image.shape == (*model.sizes[-1], 3) and image.dtype == np.uint8
        assert mask.shape == model.sizes[-1]
        assert set(np.unique(mask)) <= {0, 255}
