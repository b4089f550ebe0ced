"""The singan-seg command line: the main job end to end, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import DATA, kvasir_pair


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *map(str, args)], capture_output=True, text=True, timeout=600)


def test_train_info_generate_on_a_real_pair(tmp_path, shared_data):
    image, mask = kvasir_pair()
    model_dir, out = tmp_path / "model", tmp_path / "samples"
    r = cli("train", image, mask, "-o", model_dir, "--preset", "smoke", "--niter", "3", "--seed", "2")
    assert r.returncode == 0, r.stderr
    assert "model written to" in r.stdout
    grid = Image.open(model_dir / "samples.png")
    assert grid.width > 4 * 49 and grid.height >= 2 * 41  # real pair + 8 samples, images above masks

    r = cli("info", model_dir, "--json")
    manifest = json.loads(r.stdout)
    assert manifest["config"]["niter"] == 3 and len(manifest["scales"]) == 4

    r = cli("generate", model_dir, "-n", "4", "-o", out, "--seed", "9")
    assert r.returncode == 0, r.stderr
    record = json.loads((out / "generation.json").read_text())
    assert record["names"] == [f"sample_{i:05d}" for i in range(4)] and record["seed"] == 9
    masks = [np.asarray(Image.open(out / "masks" / f"{n}.png")) for n in record["names"]]
    assert all(set(np.unique(m)) <= {0, 255} for m in masks)

    r = cli("generate", model_dir, "-n", "4", "-o", out)
    assert r.returncode == 2 and "--overwrite" in r.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "missing.jpg", "missing-mask.jpg", "-o", "{tmp}/m"], "missing.jpg: file not found"),
        (["train", DATA / "kvasir-seg/images/cju0qkwl35piu0993l0dewei2.jpg", DATA / "kvasir-seg/masks/cju0qx73cjw570799j4n5cjze.jpg", "-o", "{tmp}/m"], "image and mask sizes differ"),
        (["train", DATA / "kvasir-seg/images/cju0qkwl35piu0993l0dewei2.jpg", "-o", "{tmp}/m"], "MASK is required"),
        (["train", DATA / "rgba/polyp_with_4_channels.png", DATA / "rgba/polyp_with_4_channels.png", "-o", "{tmp}/m"], "transparent pixels"),
        (["train", DATA / "kvasir-seg/images/cju0qkwl35piu0993l0dewei2.jpg", "--rgba-mask", "-o", "{tmp}/m"], "has no alpha channel"),
        (["train", DATA / "kvasir-seg/images/cju0qkwl35piu0993l0dewei2.jpg", DATA / "kvasir-seg/masks/cju0qkwl35piu0993l0dewei2.jpg", "-o", "{tmp}/m", "--niter", "0"], "niter must be at least 1"),
        (["generate", "{tmp}", "-n", "2", "-o", "{tmp}/out"], "not a model folder"),
        (["import-reference", "{tmp}", "-o", "{tmp}/m"], "missing Gs.pth"),
        (["info", "{tmp}/nothing"], "not a model folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, shared_data, args, message):
    r = cli(*[str(a).replace("{tmp}", str(tmp_path)) for a in args])
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "m" / "model.json").exists()


def test_generate_rejects_impossible_arguments(tmp_path, smoke_model_dir):
    r = cli("generate", smoke_model_dir, "-n", "2", "-o", tmp_path / "o", "--gen-start-scale", "2", "--scale-h", "2")
    assert r.returncode == 2 and "use gen_start_scale 0" in r.stderr
    assert not (tmp_path / "o").exists()
