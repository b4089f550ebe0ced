"""Hostile or damaged files: each gets a clear error naming the file, never a crash."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from models import CheckpointError, InputError, InputTooLarge, generate, load_model, load_pair, preset, read_manifest
from models.checkpoint import scale_file
from models.reference_import import ReferenceImportError, import_reference
from tests.conftest import FIXTURES


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def small_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((60, 80), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_decompression_bomb_header_is_too_large_not_a_crash():
    with pytest.raises(InputTooLarge, match="bomb.png: declared size exceeds the limit"):
        load_pair(png_claiming(100_000, 100_000), small_png(), image_name="bomb.png")
    with pytest.raises(InputTooLarge, match="m.png: 10000x5000 = 50000000 pixels exceeds the limit"):
        load_pair(small_png(), png_claiming(10_000, 5_000), mask_name="m.png")


def test_float_image_with_nan_is_refused():
    values = np.ones((60, 80), np.float32)
    values[0, 0] = np.nan
    buf = io.BytesIO()
    Image.fromarray(values, mode="F").save(buf, format="TIFF")
    with pytest.raises(InputError, match="x.tif: image has non-finite pixel values"):
        load_pair(buf.getvalue(), small_png(), image_name="x.tif")


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda m: [1, 2], "not a SinGAN-Seg model manifest"),
        (lambda m: {k: v for k, v in m.items() if k != "scales"}, "missing 'pyramid' or 'scales'"),
        (lambda m: {**m, "pyramid": {**m["pyramid"], "scale_factor": 0}}, "scale_factor must be between 0 and 1"),
        (lambda m: {**m, "scales": [{**m["scales"][0], "width": 200000}] + m["scales"][1:]}, "width and min_width must be integers"),
        (lambda m: {**m, "scales": [{**m["scales"][0], "noise_amp": "abc"}] + m["scales"][1:]}, "noise_amp must be a finite number"),
        (lambda m: {**m, "scales": [{**m["scales"][0], "width": 64}] + m["scales"][1:]}, "weights do not match the widths"),
    ],
)
def test_damaged_manifests_are_named(tmp_path, smoke_model_dir, damage, message):
    model_dir = tmp_path / "m"
    shutil.copytree(smoke_model_dir, model_dir)
    (model_dir / "model.json").write_text(json.dumps(damage(read_manifest(smoke_model_dir))))
    with pytest.raises(CheckpointError, match=message):
        load_model(model_dir)


def test_nan_weights_are_refused(tmp_path, smoke_model_dir):
    from safetensors.torch import load_file, save_file

    model_dir = tmp_path / "m"
    shutil.copytree(smoke_model_dir, model_dir)
    tensors = load_file(str(model_dir / scale_file(1)))
    tensors["G.head.conv.weight"][0, 0, 0, 0] = float("nan")
    save_file(tensors, str(model_dir / scale_file(1)))
    with pytest.raises(CheckpointError, match="scale_001.safetensors: holds NaN"):
        load_model(model_dir)


def test_out_of_range_seeds_are_named(smoke_model_dir):
    model = load_model(smoke_model_dir)
    with pytest.raises(ValueError, match="seed must be between 0 and 2\\*\\*63 - 1"):
        generate(model, 1, seed=2**63)
    with pytest.raises(ValueError, match="seed must be between"):
        preset("smoke", seed=-1)
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        generate(model, 1, batch_size=-3)


def test_storage_entry_larger_than_declared_is_refused_before_reading(tmp_path):
    src = tmp_path / "ref"
    shutil.copytree(FIXTURES / "official-tiny", src)
    for f in src.iterdir():
        f.chmod(0o644)
    with zipfile.ZipFile(FIXTURES / "official-tiny" / "NoiseAmp.pth") as original:
        entries = {info.filename: original.read(info) for info in original.infolist()}
    entry = next(name for name in entries if name.endswith("/data/0"))
    entries[entry] = b"\x00" * (64 * 1024 * 1024)  # compresses to almost nothing
    (src / "NoiseAmp.pth").unlink()
    with zipfile.ZipFile(src / "NoiseAmp.pth", "w", zipfile.ZIP_DEFLATED) as bomb:
        for name, data in entries.items():
            bomb.writestr(name, data)
    with pytest.raises(ReferenceImportError, match="NoiseAmp.pth: storage 0: 67108864 bytes where 1 elements need 4"):
        import_reference(src, tmp_path / "out")


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args,message",
    [
        (["-n", "2", "-o", "{file}"], "exists and is a file, not a folder"),
        (["-n", "2", "-o", "{tmp}/out", "--prefix", "../../evil_"], "sample names must be plain file names"),
        (["-n", "2", "-o", "{tmp}/out", "--seed", str(10**20)], "seed must be between"),
        (["-n", "2", "-o", "{tmp}/out", "--batch-size", "0"], "batch size must be at least 1"),
    ],
)
def test_generate_refuses_bad_outputs_before_writing(tmp_path, smoke_model_dir, args, message):
    afile = tmp_path / "afile"
    afile.write_text("x")
    r = cli("generate", smoke_model_dir, *[a.replace("{file}", str(afile)).replace("{tmp}", str(tmp_path)) for a in args])
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.parent.glob("evil_*"))


def test_generate_overwrite_replaces_the_whole_dataset(tmp_path, smoke_model_dir):
    out = tmp_path / "out"
    assert cli("generate", smoke_model_dir, "-n", "3", "-o", out).returncode == 0
    r = cli("generate", smoke_model_dir, "-n", "1", "-o", out, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert len(list((out / "images").iterdir())) == 1 and len(list((out / "masks").iterdir())) == 1
