"""The quality report on smoke models of real pairs: report.json, figures, flags, and ``singan-seg evaluate``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from app.cli import main
from models import generate, load_model, load_pair
from models.inputs import pair_to_tensor
from models.quality import FIGURES, REPORT_FILE, build_report, format_table
from models.preview import overlay_outline
from models.quality.masks import count_components
from tests.quality.conftest import DATA, KVASIR, read_rgb


def test_model_report_files_and_contents(kvasir_model, tmp_path):
    out = tmp_path / "report"
    report = build_report(kvasir_model, out, num_samples=6, seed=2)
    assert json.loads((out / REPORT_FILE).read_text()) == report
    assert report["figures"] == FIGURES
    for name in FIGURES.values():
        assert Image.open(out / name).format == "PNG"
    assert Image.open(out / FIGURES["foreground_share"]).size == (640, 360)

    assert report["source"]["samples"] == {"generated": 6, "seed": 2, "gen_start_scale": 0}
    assert report["samples"] == {"count": 6, "size": [41, 49]}
    real_mask = np.asarray(Image.open(kvasir_model / "real_mask.png")) > 0
    assert report["masks"]["real_foreground_share"] == real_mask.mean()
    assert report["masks"]["real_components"] == count_components(real_mask)
    assert [lv["size"] for lv in report["fidelity"]["levels"]] == [[41, 49], [21, 25]]
    assert all(lv["swd"] > 0 and lv["real_vs_real"] > 0 for lv in report["fidelity"]["levels"])
    assert 0 < report["diversity"]["pixel_std_ratio"] and report["diversity"]["pairwise_samples"] == 6

    # The samples are the ones generate draws with that seed and count.
    samples = generate(load_model(kvasir_model), 6, seed=2)
    shares = ((samples[:, 3] + 1) / 2 > 0.5).double().mean(dim=(1, 2)).tolist()
    assert [s["foreground_share"] for s in report["per_sample"]] == pytest.approx(shares, abs=1e-12)
    # Raw mask values are known for samples drawn here.
    assert all(0 <= s["uncertain_share"] <= 1 for s in report["per_sample"])
    assert report["memorisation"]["near_copies"] == [s["name"] for s in report["per_sample"] if s["near_copy"]]
    table = format_table(report)
    assert "sample_00005" in table and "fidelity" in table


def test_copies_and_degenerate_masks_are_flagged(kvasir_model):
    real = pair_to_tensor(load_pair(kvasir_model / "real_image.png", kvasir_model / "real_mask.png"))
    samples = generate(load_model(kvasir_model), 3, seed=0)
    empty, full = samples[:1].clone(), samples[1:2].clone()
    empty[:, 3] = -1.0
    full[:, 3] = 1.0
    report = build_report(kvasir_model, samples=torch.cat([samples[2:], real, real.flip(-1), empty, full]))
    names = [s["name"] for s in report["per_sample"]]
    assert report["memorisation"]["near_copies"] == names[1:3]
    assert report["per_sample"][1]["distance"] < 1e-6 and report["per_sample"][2]["distance_mirrored"] < 1e-6
    assert report["masks"]["empty"] == [names[3]] and report["masks"]["full"] == [names[4]]
    assert report["per_sample"][3]["components"] == 0 and report["per_sample"][4]["components"] == 1
    flags = " | ".join(report["flags"])
    assert f"2 of 5 samples are near-copies of the training image: {names[1]}, {names[2]}" in flags
    assert f"1 of 5 masks are empty: {names[3]}" in flags and f"1 of 5 masks are full: {names[4]}" in flags


def test_thin_structures_of_the_retina_model(retina_model, tmp_path):
    report = build_report(retina_model, tmp_path, num_samples=4)
    real_mask = np.asarray(Image.open(retina_model / "real_mask.png")) > 0
    assert report["masks"]["real_components"] == count_components(real_mask) > 1
    assert report["samples"]["size"] == list(real_mask.shape)
    assert len(report["per_sample"]) == 4


def test_cli_evaluate_dataset_model_and_real_pair(kvasir_model, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(kvasir_model, model)
    data = tmp_path / "data"
    assert main(["generate", str(model), "-n", "4", "-o", str(data), "--device", "cpu"]) == 0
    capsys.readouterr()

    assert main(["evaluate", str(data)]) == 0
    printed = capsys.readouterr().out
    text = (data / "report" / REPORT_FILE).read_text()
    report = json.loads(text)
    # A dataset's report travels with it: no local paths or file names of the training pair.
    assert str(tmp_path) not in text and "cju0qkwl" not in text
    assert report["source"]["generation"]["num_samples"] == 4 and report["source"]["real"] == {"size": [41, 49]}
    assert report["masks"]["uncertain_share"] is None and "thresholded when written" in report["masks"]["uncertain_note"]
    # ... and its sample grid starts with a synthetic pair, not the training pair.
    first = np.asarray(Image.open(data / "report" / FIGURES["samples"]))[:41, :49]
    sample = read_rgb(data / "images" / "sample_00000.png"), np.asarray(Image.open(data / "masks" / "sample_00000.png"))
    assert np.array_equal(first, overlay_outline(*sample))
    assert all(f"sample_0000{i}" in printed for i in range(4)) and "report written to" in printed
    # The same samples drawn from the model folder give the same mask statistics.
    assert main(["evaluate", str(model), "-n", "4", "-o", str(tmp_path / "model-report"), "--device", "cpu"]) == 0
    from_model = json.loads((tmp_path / "model-report" / REPORT_FILE).read_text())
    assert from_model["source"]["model_dir"] == str(model.resolve())  # a model's report stays inside, like the model
    first = np.asarray(Image.open(tmp_path / "model-report" / FIGURES["samples"]))[:41, :49]
    assert np.array_equal(first, overlay_outline(read_rgb(model / "real_image.png"), np.asarray(Image.open(model / "real_mask.png"))))
    assert [s["foreground_share"] for s in from_model["per_sample"]] == [s["foreground_share"] for s in report["per_sample"]]

    raw = tmp_path / "raw"
    assert main(["generate", str(model), "-n", "2", "-o", str(raw), "--raw-mask", "--device", "cpu"]) == 0
    assert main(["evaluate", str(raw), "-o", str(tmp_path / "raw-report")]) == 0
    assert json.loads((tmp_path / "raw-report" / REPORT_FILE).read_text())["masks"]["uncertain_share"]["mean"] > 0

    shutil.rmtree(model)
    capsys.readouterr()
    assert main(["evaluate", str(data)]) == 2
    assert "pass --real IMAGE MASK" in capsys.readouterr().err
    image, mask = DATA / KVASIR[0], DATA / KVASIR[1]
    assert main(["evaluate", str(data), "--real", str(image), str(mask), "-o", str(tmp_path / "r")]) == 0
    real_source = json.loads((tmp_path / "r" / REPORT_FILE).read_text())["source"]["real"]
    assert real_source == {"size": [529, 622], "resized_to": [41, 49]}

    assert main(["evaluate", str(tmp_path)]) == 2
    assert "neither a model folder" in capsys.readouterr().err
