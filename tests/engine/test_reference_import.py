"""Importing the reference implementation's pickled checkpoints safely, and output parity."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import torch

from models import generate, load_model, reconstruct
from models.reference_import import REFERENCE_FILES, ReferenceImportError, import_reference, load_reference_pickle
from tests.conftest import FIXTURES

OFFICIAL = FIXTURES / "official-tiny"
MEAN_TOL, MAX_TOL = 1e-3, 0.05  # measured tolerance, fixtures/official-tiny/README.md


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("imported") / "model"
    import_reference(OFFICIAL, model_dir)
    return load_model(model_dir)


@pytest.fixture(scope="module")
def reference_outputs():
    return torch.load(OFFICIAL / "reference_outputs.pt", weights_only=True)


def test_imported_model_has_the_reference_pyramid(imported):
    assert imported.sizes == [(25, 30), (31, 36), (38, 44), (46, 53), (55, 64)]
    assert imported.scale_factor == pytest.approx(0.8210967436686386, abs=1e-12)
    assert imported.noise_amps[0] == 1.0 and imported.noise_amps[1] == pytest.approx(0.05327043682336807)
    assert imported.resize_mode == "reference"


@pytest.mark.parametrize("gen_start_scale", [0, 3])
def test_recorded_noise_reproduces_reference_samples(imported, reference_outputs, gen_start_scale):
    case = reference_outputs[f"gen_start_scale={gen_start_scale}"]
    samples = len(case["outputs"])
    noise = [torch.cat([case["noise"][i][n] for i in range(samples)]) for n in range(imported.num_scales)]
    out = generate(imported, samples, gen_start_scale=gen_start_scale, noise=noise)
    diff = (out - torch.cat(case["outputs"])).abs()
    assert diff.mean() < MEAN_TOL and diff.max() < MAX_TOL, (diff.mean(), diff.max())


def test_reconstruction_reproduces_reference(imported, reference_outputs):
    diff = (reconstruct(imported) - reference_outputs["reconstruction"]).abs()
    assert diff.mean() < MEAN_TOL and diff.max() < MAX_TOL, (diff.mean(), diff.max())


def test_float_resize_would_not_pass(imported, reference_outputs):
    """The uint8 truncation matters: the same model with the float resize misses the tolerance."""
    imported.resize_mode = "float"
    try:
        diff = (reconstruct(imported) - reference_outputs["reconstruction"]).abs()
    finally:
        imported.resize_mode = "reference"
    assert diff.mean() > MEAN_TOL or diff.max() > MAX_TOL


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


def test_foreign_pickles_are_refused_without_running(tmp_path, monkeypatch):
    src = tmp_path / "evil"
    shutil.copytree(OFFICIAL, src)
    os.chmod(src, 0o755)
    for f in src.iterdir():
        os.chmod(f, 0o644)
    torch.save([_Exploit()], src / "Gs.pth")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ReferenceImportError, match="refusing to load posix.system"):
        import_reference(src, tmp_path / "out")
    assert not (tmp_path / "pwned-by-pickle").exists()
    assert not (tmp_path / "out" / "model.json").exists()


def test_plain_tensor_files_load_through_the_same_unpickler():
    amps = load_reference_pickle(OFFICIAL / "NoiseAmp.pth")
    assert amps[0] == 1 and float(amps[1]) == pytest.approx(0.05327043682336807)
    zs = load_reference_pickle(OFFICIAL / "Zs.pth")
    assert tuple(zs[0].shape) == (1, 4, 35, 40) and not zs[1].any()


def test_missing_files_are_named(tmp_path):
    (tmp_path / "Gs.pth").write_bytes(b"")
    with pytest.raises(ReferenceImportError, match="missing Zs.pth, reals.pth, NoiseAmp.pth"):
        import_reference(tmp_path, tmp_path / "out")
    assert REFERENCE_FILES[0] == "Gs.pth"


def test_cli_import_info_generate(tmp_path):
    model_dir, out = tmp_path / "m", tmp_path / "out"
    run = lambda *a: subprocess.run([sys.executable, "-m", "app.cli", *a], capture_output=True, text=True)
    r = run("import-reference", str(OFFICIAL), "-o", str(model_dir))
    assert r.returncode == 0, r.stderr
    r = run("info", str(model_dir))
    assert "complete" in r.stdout and "64x55" in r.stdout and "reference" in r.stdout
    r = run("generate", str(model_dir), "-n", "3", "-o", str(out), "--gen-start-scale", "2")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(p.name for p in (out / "masks").iterdir())
    assert len(list((out / "images").iterdir())) == 3
