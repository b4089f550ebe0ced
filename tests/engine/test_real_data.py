"""Train a smoke model on a real pair of every dataset in ../shared/data and sample from it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from models import generate, load_model, load_pair, load_rgba_pair, preset, train
from models.inputs import tensor_to_pair_arrays
from tests.conftest import DATA

CASES = {
    "kvasir-seg": ("kvasir-seg/images/cju0qoxqj9q6s0835b43399p4.jpg", "kvasir-seg/masks/cju0qoxqj9q6s0835b43399p4.jpg"),
    "dermoscopy": ("dermoscopy/images/ISIC_0027001.jpg", "dermoscopy/masks/ISIC_0027001.png"),
    "retina-drive": ("retina-drive/images/01_test.tif", "retina-drive/masks/01_manual1.gif"),
    "breast-ultrasound": ("breast-ultrasound/images/malignant (1).png", "breast-ultrasound/masks/malignant (1)_mask.png"),
    "rgba": ("rgba/polyp_with_4_channels.png", None),
}


@pytest.mark.parametrize("dataset", sorted(CASES))
def test_smoke_model_on_real_pair(tmp_path, shared_data, dataset):
    image, mask = CASES[dataset]
    pair = load_rgba_pair(DATA / image) if mask is None else load_pair(DATA / image, DATA / mask)
    model_dir = tmp_path / "model"
    train(pair, preset("smoke", niter=20, seed=1), model_dir)
    model = load_model(model_dir)
    images, masks = tensor_to_pair_arrays(generate(model, 4, seed=0, gen_start_scale=1))
    real = np.asarray(Image.open(model_dir / "real_image.png")).astype(float)
    real_mask = np.asarray(Image.open(model_dir / "real_mask.png")) > 0
    assert images.shape[1:3] == real.shape[:2] and masks.shape[1:] == real_mask.shape
    # Samples look like the tissue they came from: the same mean colour, within 25 grey levels.
    np.testing.assert_allclose(images.reshape(-1, 3).mean(0), real.reshape(-1, 3).mean(0), atol=25)
    # Masks are binary and neither empty nor full.
    assert set(np.unique(masks)) <= {0, 255}
    shares = (masks > 0).mean(axis=(1, 2))
    assert (shares > 0).all() and (shares < 1).all(), shares
