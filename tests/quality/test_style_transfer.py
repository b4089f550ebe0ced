"""Style transfer mechanics with a generated VGG19-format weight file (no ImageNet weights in tests)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from app.cli import main
from models import generate, load_model, write_pairs
from models.style_transfer import CONTENT_LAYER, STYLE_LAYERS, content_loss, gram, style_loss, stylize_batch, stylize_samples
from tests.quality.conftest import DATA, KVASIR, KVASIR_OTHER, read_rgb


def _small(files: tuple[str, str], size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.open(DATA / files[0]).convert("RGB").resize(size, Image.BICUBIC))


@pytest.fixture(scope="module")
def contents() -> np.ndarray:
    """Three 40 x 32 crops of a real polyp image: [3, 32, 40, 3] uint8."""
    image = _small(KVASIR, (80, 64))
    return np.stack([image[:32, :40], image[32:, 40:], image[16:48, 20:60]])


def test_gram_and_loss_values():
    f = torch.tensor([[[[1.0, 2.0]]]])  # [1, 1, 1, 2]
    assert gram(f).tolist() == [[[5.0]]]
    features = {i: f for i in STYLE_LAYERS}
    # Each layer: weight * (5 - 3)^2 / (c * h * w = 2); the weights sum to 2.0.
    targets = {i: torch.tensor([[[3.0]]]) for i in STYLE_LAYERS}
    assert style_loss(features, targets).tolist() == [4.0]
    assert style_loss(features, {i: gram(f) for i in STYLE_LAYERS}).tolist() == [0.0]
    assert content_loss(features, torch.zeros(1, 1, 1, 2)).tolist() == [2.5]  # (1 + 4) / 2
    assert CONTENT_LAYER == 28 and list(STYLE_LAYERS) == [0, 5, 10, 19, 28]
    assert list(STYLE_LAYERS.values()) == [0.75, 0.5, 0.25, 0.25, 0.25]


def test_losses_decrease_and_output_keeps_size(vgg19, contents):
    style = _small(KVASIR_OTHER, (60, 50))  # another polyp, another size: resized to 40 x 32
    log = []
    out = stylize_batch(contents, style, vgg19, steps=8, device="cpu", progress=log.append)
    assert out.shape == contents.shape and out.dtype == np.uint8
    assert [p.step for p in log] == list(range(1, 9))
    # Pixels start at the content image, so the first step's content loss is exactly 0.
    assert log[0].content_loss == 0.0
    style_losses = [p.style_loss for p in log]
    assert all(b < a for a, b in zip(style_losses, style_losses[1:])), style_losses
    assert style_losses[-1] < 0.9 * style_losses[0]
    totals = [p.content_loss + 1000.0 * p.style_loss for p in log]
    assert totals[-1] < totals[0]
    changed = np.abs(out.astype(int) - contents.astype(int))
    assert changed.mean() > 0.5 and changed.max() <= 255


def test_batching_gives_the_same_images(vgg19, contents):
    style = _small(KVASIR_OTHER, (40, 32))
    together = stylize_batch(contents, style, vgg19, steps=3, device="cpu", batch_size=3)
    progress = []
    apart = stylize_batch(contents, style, vgg19, steps=3, device="cpu", batch_size=2, progress=progress.append)
    assert np.abs(together.astype(int) - apart.astype(int)).max() <= 1
    assert [(p.images_done, p.batch_size) for p in progress if p.step == 3] == [(0, 2), (2, 1)]
    assert progress[-1].fraction == 1.0


def test_bad_arguments_are_named(vgg19, contents):
    style = contents[0]
    with pytest.raises(ValueError, match="steps must be at least 1"):
        stylize_batch(contents, style, vgg19, steps=0)
    with pytest.raises(ValueError, match="weights must be >= 0"):
        stylize_batch(contents, style, vgg19, steps=1, style_weight=-1)
    with pytest.raises(ValueError, match=r"images must be uint8 \[N, H, W, 3\]"):
        stylize_batch(contents.astype(np.float32), style, vgg19, steps=1)
    with pytest.raises(ValueError, match="at least 16 px"):
        stylize_batch(contents[:, :8, :8], style, vgg19, steps=1)


def test_samples_keep_their_masks_bit_for_bit(vgg19, kvasir_model, tmp_path):
    samples = generate(load_model(kvasir_model), 3, seed=0)
    style = read_rgb(kvasir_model / "real_image.png")
    styled = stylize_samples(samples, style, vgg19, steps=3, device="cpu")
    assert styled.shape == samples.shape
    assert torch.equal(styled[:, 3], samples[:, 3])
    assert not torch.equal(styled[:, :3], samples[:, :3])
    for name, batch in (("plain", samples), ("styled", styled)):
        write_pairs(batch, tmp_path / name, ["a", "b", "c"])
        write_pairs(batch, tmp_path / f"{name}-raw", ["a", "b", "c"], threshold_mask=False)
    for n in "abc":
        assert (tmp_path / "plain/masks" / f"{n}.png").read_bytes() == (tmp_path / "styled/masks" / f"{n}.png").read_bytes()
        assert (tmp_path / "plain-raw/masks" / f"{n}.png").read_bytes() == (tmp_path / "styled-raw/masks" / f"{n}.png").read_bytes()


def test_cli_generate_with_style_transfer(kvasir_model, vgg19_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SINGAN_SEG_VGG19_WEIGHTS", str(vgg19_file))
    args = [str(kvasir_model), "-n", "2", "--seed", "4", "--device", "cpu"]
    assert main(["generate", *args, "-o", str(tmp_path / "plain")]) == 0
    assert main(["generate", *args, "-o", str(tmp_path / "styled"), "--style-transfer", "--style-steps", "2", "--style-weight", "500"]) == 0
    record = json.loads((tmp_path / "styled/generation.json").read_text())
    assert record["style_transfer"] == {"steps": 2, "content_weight": 1.0, "style_weight": 500.0, "vgg19_weights": str(vgg19_file)}
    assert json.loads((tmp_path / "plain/generation.json").read_text())["style_transfer"] is None
    for name in record["names"]:
        assert (tmp_path / "plain/masks" / f"{name}.png").read_bytes() == (tmp_path / "styled/masks" / f"{name}.png").read_bytes()
        assert not np.array_equal(read_rgb(tmp_path / "plain/images" / f"{name}.png"), read_rgb(tmp_path / "styled/images" / f"{name}.png"))


def test_cli_without_weights_says_which_file_and_writes_nothing(kvasir_model, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SINGAN_SEG_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    code = main(["generate", str(kvasir_model), "-n", "2", "-o", str(tmp_path / "out"), "--style-transfer"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "vgg19-dcbb9e9d.pth" in err and str(tmp_path / "torch" / "hub" / "checkpoints") in err
    assert not (tmp_path / "out").exists()
    code = main(["stylize", str(kvasir_model / "real_image.png"), str(kvasir_model / "real_image.png"), "-o", str(tmp_path / "st")])
    assert code == 2 and "SINGAN_SEG_VGG19_WEIGHTS" in capsys.readouterr().err


def test_cli_stylize_folder_of_mixed_sizes(vgg19_file, contents, tmp_path, capsys):
    folder = tmp_path / "content"
    folder.mkdir()
    Image.fromarray(contents[0]).save(folder / "one.png")
    Image.fromarray(contents[1]).save(folder / "two.jpg", quality=95)
    Image.fromarray(_small(KVASIR, (24, 20))).save(folder / "small.png")
    (folder / "notes.txt").write_text("not an image")
    style = DATA / KVASIR_OTHER[0]
    out = tmp_path / "out"
    args = ["stylize", str(folder), str(style), "-o", str(out), "--steps", "2", "--vgg19-weights", str(vgg19_file), "--device", "cpu"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["one.png", "small.png", "two.png"]
    assert read_rgb(out / "small.png").shape == (20, 24, 3)
    assert read_rgb(out / "one.png").shape == (32, 40, 3)
    assert main(args) == 2 and "pass --overwrite" in capsys.readouterr().err
