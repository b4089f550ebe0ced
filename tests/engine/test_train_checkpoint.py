"""Training: determinism, progress, atomic per-scale checkpoints, resume and cancellation."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from models import CheckpointError, TrainingCancelled, load_model, load_pair, preset, read_manifest, train
from models.checkpoint import scale_file
from models.networks import Generator
from models.train import _batchnorm_passes
from tests.conftest import kvasir_pair

TINY = dict(niter=4, seed=11)


@pytest.fixture(scope="module")
def pair(shared_data):
    return load_pair(*kvasir_pair())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, pair):
    model_dir = tmp_path_factory.mktemp("full") / "model"
    events = []
    train(pair, preset("smoke", **TINY), model_dir, progress=events.append)
    return model_dir, events


def weights(model_dir, scale):
    return load_file(str(model_dir / scale_file(scale)))


def assert_same_scales(a, b, scales):
    for n in scales:
        wa, wb = weights(a, n), weights(b, n)
        assert wa.keys() == wb.keys()
        for k in wa:
            torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0, msg=f"scale {n} {k}")


def test_same_seed_gives_identical_weights(tmp_path, pair, uninterrupted):
    model_dir, _ = uninterrupted
    train(pair, preset("smoke", **TINY), tmp_path / "again")
    assert_same_scales(model_dir, tmp_path / "again", range(4))


def test_other_seed_gives_other_weights(tmp_path, pair, uninterrupted):
    train(pair, preset("smoke", niter=2, seed=12, max_size=30), tmp_path / "other")
    a = weights(uninterrupted[0], 0)["G.head.conv.weight"]
    b = weights(tmp_path / "other", 0)["G.head.conv.weight"]
    assert not torch.equal(a, b)


def test_progress_reports_every_iteration_up_to_the_whole_run(uninterrupted):
    model_dir, events = uninterrupted
    manifest = read_manifest(model_dir)
    scales = len(manifest["pyramid"]["sizes"])
    done = [e for e in events if e.iteration > 0]
    assert len(done) == scales * TINY["niter"]
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert {e.scales for e in events} == {scales} and events[-1].eta_seconds == pytest.approx(0.0, abs=1e-6)


def test_manifest_records_config_pyramid_and_provenance(uninterrupted):
    manifest = read_manifest(uninterrupted[0])
    assert manifest["config"]["preset"] == "smoke" and manifest["config"]["niter"] == 4
    assert manifest["resize_mode"] == "float"
    assert len(manifest["scales"]) == len(manifest["pyramid"]["sizes"]) == 4
    assert manifest["scales"][0]["noise_amp"] == 1.0 and 0 < manifest["scales"][1]["noise_amp"] < 0.5
    assert manifest["provenance"]["image"].endswith("cju0qkwl35piu0993l0dewei2.jpg")
    assert len(manifest["provenance"]["input_sha256"]) == 64 and "finished_at" in manifest["provenance"]


def test_cancel_keeps_finished_scales_and_resume_matches_uninterrupted(tmp_path, pair, uninterrupted):
    model_dir = tmp_path / "model"
    seen = []

    def stop_in_scale_2():
        return len(seen) > 0 and seen[-1].scale == 2 and seen[-1].iteration >= 2

    with pytest.raises(TrainingCancelled):
        train(pair, preset("smoke", **TINY), model_dir, progress=seen.append, should_stop=stop_in_scale_2)
    manifest = read_manifest(model_dir)
    assert len(manifest["scales"]) == 2
    assert not (model_dir / scale_file(2)).exists()
    with pytest.raises(CheckpointError, match="training is not finished \\(2 of 4 scales\\)"):
        load_model(model_dir)

    resumed = []
    train(pair, preset("smoke", **TINY), model_dir, resume=True, progress=resumed.append)
    assert min(e.scale for e in resumed) == 2, "resume must not redo finished scales"
    assert_same_scales(uninterrupted[0], model_dir, range(4))


def test_existing_folder_needs_resume_and_the_same_settings(tmp_path, pair, uninterrupted):
    model_dir = uninterrupted[0]
    with pytest.raises(FileExistsError, match="--resume"):
        train(pair, preset("smoke", **TINY), model_dir)
    with pytest.raises(ValueError, match="different settings \\(niter\\)"):
        train(pair, preset("smoke", niter=5, seed=11), model_dir, resume=True)
    other = load_pair(*kvasir_pair("cju0rx1idathl0835detmsp84.jpg"))
    with pytest.raises(ValueError, match="different image/mask pair"):
        train(other, preset("smoke", **TINY), model_dir, resume=True)


def test_corrupt_or_foreign_folders_are_refused(tmp_path, uninterrupted):
    with pytest.raises(CheckpointError, match="not a model folder"):
        load_model(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    manifest = read_manifest(uninterrupted[0])
    (broken / "model.json").write_text(json.dumps(manifest))
    for n in range(4):
        (broken / scale_file(n)).write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="unreadable tensor file"):
        load_model(broken)
    (broken / "model.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format version 99"):
        load_model(broken)


def test_one_pass_updates_batchnorm_like_three_identical_passes():
    torch.manual_seed(0)
    a, b = Generator(32, 32), Generator(32, 32)
    b.load_state_dict(a.state_dict())
    z = torch.randn(1, 4, 40, 40)
    for _ in range(3):
        a(z, z)
    with _batchnorm_passes(b, 3):
        b(z, z)
    for name, buf in a.named_buffers():
        if "running" in name:
            torch.testing.assert_close(buf, dict(b.named_buffers())[name], rtol=1e-5, atol=1e-6)
    assert b.head.norm.momentum == 0.1  # restored afterwards


def test_cuda_request_without_gpu_is_a_clear_error(tmp_path, pair):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the error path is for machines without one")
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        train(pair, preset("smoke", device="cuda"), tmp_path / "m")
