"""Loading real and awkward image/mask files into training pairs."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from models import InputError, InputTooLarge, load_pair, load_rgba_pair, plan_pyramid, preset
from models.inputs import pair_to_tensor
from tests.conftest import DATA, kvasir_pair


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def rgb_image(h: int = 60, w: int = 80) -> bytes:
    rng = np.random.default_rng(0)
    return png_bytes(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def disk_mask(h: int = 60, w: int = 80) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 4) ** 2


REAL_PAIRS = [
    ("kvasir-seg/images/cju0qkwl35piu0993l0dewei2.jpg", "kvasir-seg/masks/cju0qkwl35piu0993l0dewei2.jpg"),
    ("dermoscopy/images/ISIC_0024311.jpg", "dermoscopy/masks/ISIC_0024311.png"),
    ("retina-drive/images/01_test.tif", "retina-drive/masks/01_manual1.gif"),
    ("breast-ultrasound/images/malignant (1).png", "breast-ultrasound/masks/malignant (1)_mask.png"),
]


@pytest.mark.parametrize("image,mask", REAL_PAIRS)
def test_real_pairs_load_with_binary_masks(shared_data, image, mask):
    pair = load_pair(DATA / image, DATA / mask)
    raw = np.asarray(Image.open(DATA / mask))
    assert pair.image.dtype == np.uint8 and pair.image.shape == (raw.shape[0], raw.shape[1], 3)
    assert pair.mask.dtype == bool and pair.mask.shape == raw.shape[:2]
    assert 0.001 < pair.foreground_share < 0.9
    x = pair_to_tensor(pair)
    assert x.shape == (1, 4, raw.shape[0], raw.shape[1])
    assert set(torch.unique(x[0, 3]).tolist()) == {-1.0, 1.0}
    assert x.min() >= -1 and x.max() <= 1


def test_noisy_jpeg_mask_is_thresholded_at_127(shared_data):
    image, mask = kvasir_pair()
    raw = np.asarray(Image.open(mask))
    levels = np.unique(raw)
    assert len(levels) > 2, "the Kvasir mask should carry JPEG noise"
    pair = load_pair(image, mask)
    np.testing.assert_array_equal(pair.mask, raw.max(axis=2) > 127)
    # Noise near black must not become foreground (a naive "> 0" would).
    assert pair.mask.sum() < (raw.max(axis=2) > 0).sum()


def test_rgba_file_with_alpha_mask_needs_the_flag(shared_data):
    path = DATA / "rgba" / "polyp_with_4_channels.png"
    pair = load_rgba_pair(path)
    alpha = np.asarray(Image.open(path))[..., 3]
    np.testing.assert_array_equal(pair.mask, alpha > 127)
    assert (pair.width, pair.height) == (622, 529)
    with pytest.raises(InputError, match="transparent pixels.*--rgba-mask"):
        load_pair(path, path)


def test_rgba_pair_requires_an_alpha_channel(shared_data):
    with pytest.raises(InputError, match="has no alpha channel"):
        load_rgba_pair(kvasir_pair()[0])


@pytest.mark.parametrize(
    "encode",
    [
        lambda m: png_bytes(m.astype(np.uint8)),  # 0/1
        lambda m: png_bytes(m.astype(np.uint8) * 255),  # 0/255
        lambda m: png_bytes(m.astype(np.uint8) * 3),  # instance label 3
        lambda m: png_bytes(m),  # 1-bit
        lambda m: png_bytes((m.astype(np.uint16) * 65535)),  # 16-bit
        lambda m: png_bytes(np.stack([m.astype(np.uint8) * 200, np.zeros_like(m, np.uint8), np.zeros_like(m, np.uint8)], 2)),  # red on black
    ],
    ids=["zero-one", "zero-255", "instance-label", "one-bit", "16-bit", "rgb-colour"],
)
def test_mask_encodings_give_the_same_foreground(encode):
    mask = disk_mask()
    pair = load_pair(rgb_image(), encode(mask))
    np.testing.assert_array_equal(pair.mask, mask)


def test_palette_mask_uses_index_above_zero():
    mask = disk_mask()
    img = Image.fromarray(mask.astype(np.uint8) * 2, mode="L").convert("P")
    img.putpalette([255, 255, 255, 0, 0, 0, 10, 20, 30] + [0] * (256 * 3 - 9))  # index 0 is white
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    np.testing.assert_array_equal(load_pair(rgb_image(), buf.getvalue()).mask, mask)


def test_instance_labels_are_all_foreground():
    labels = np.zeros((60, 80), np.uint8)
    labels[5:15, 5:15] = 1
    labels[30:40, 30:40] = 2
    labels[45:55, 60:70] = 7
    pair = load_pair(rgb_image(), png_bytes(labels))
    np.testing.assert_array_equal(pair.mask, labels > 0)


def test_greyscale_and_16bit_images_become_three_equal_channels():
    grey16 = (np.arange(60 * 80, dtype=np.uint16).reshape(60, 80) * 13) % 4096
    pair = load_pair(png_bytes(grey16), png_bytes(disk_mask()))
    assert pair.image.shape == (60, 80, 3)
    np.testing.assert_array_equal(pair.image[..., 0], pair.image[..., 2])
    assert pair.image.min() == 0 and pair.image.max() == 255  # rescaled by its own range


def test_size_mismatch_names_both_files_and_sizes():
    with pytest.raises(InputError) as err:
        load_pair(rgb_image(60, 80), png_bytes(disk_mask(50, 80)), image_name="a.png", mask_name="b.png")
    assert "a.png is 80x60" in str(err.value) and "b.png is 80x50" in str(err.value)


def test_unreadable_truncated_and_missing_files(tmp_path, shared_data):
    with pytest.raises(InputError, match="x.png: not a readable image"):
        load_pair(b"definitely not an image", rgb_image(), image_name="x.png")
    jpeg = kvasir_pair()[0].read_bytes()
    with pytest.raises(InputError, match="cut.jpg: image data is truncated or corrupt"):
        load_pair(jpeg[: len(jpeg) // 2], kvasir_pair()[1], image_name="cut.jpg")
    with pytest.raises(InputError, match="file not found"):
        load_pair(tmp_path / "missing.png", tmp_path / "missing-mask.png")


def test_pixel_limit_is_checked_before_decoding():
    with pytest.raises(InputTooLarge, match="exceeds the limit of 1000 pixels"):
        load_pair(rgb_image(), png_bytes(disk_mask()), max_pixels=1000)


def test_transparent_image_is_refused_without_the_flag():
    rgba = np.zeros((60, 80, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0
    with pytest.raises(InputError, match="transparent pixels"):
        load_pair(png_bytes(rgba), png_bytes(disk_mask()))
    rgba[0, 0, 3] = 255  # fully opaque RGBA is just RGB
    assert load_pair(png_bytes(rgba), png_bytes(disk_mask())).image.shape == (60, 80, 3)


def test_empty_mask_is_reported_and_refused_only_on_request():
    empty = png_bytes(np.zeros((60, 80), np.uint8))
    assert load_pair(rgb_image(), empty).foreground_share == 0.0
    with pytest.raises(InputError, match="mask is empty"):
        load_pair(rgb_image(), empty, require_foreground=True)
    with pytest.raises(InputError, match="mask is full"):
        load_pair(rgb_image(), png_bytes(np.full((60, 80), 255, np.uint8)), require_foreground=True)


def test_too_small_for_two_scales():
    config = preset("paper")
    with pytest.raises(InputError, match="too small for a pyramid"):
        plan_pyramid(24, 40, config.min_size, config.max_size, config.scale_factor_init)
    # A long thin image whose short side shrinks to min_size at the working size.
    with pytest.raises(InputError, match="too small for a pyramid"):
        plan_pyramid(100, 1000, config.min_size, config.max_size, config.scale_factor_init)
    assert plan_pyramid(40, 40, config.min_size, config.max_size, config.scale_factor_init).num_scales >= 2
