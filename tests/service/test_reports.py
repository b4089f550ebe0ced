"""Quality reports and style transfer through the API (issue 4): the report routes and
figures, the reports in the archive, their errors, and restyled generations end to end
with a VGG19-format weight file generated here.

Jobs run with the worker's own functions in this process, as in test_api.py.
"""

from __future__ import annotations

import io
import json
import os
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from service_helpers import SMOKE, check_archive, embedded_client, finished_model, run_job, train_smoke, upload_files, wait_for

from app.orm import Generation
from models.quality import FIGURES
from models.vgg19 import TORCHVISION_FILE
from tests.quality.conftest import save_vgg19_file
from worker import runtime

REPORT_SAMPLES = 5
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory) -> Path:
    return save_vgg19_file(tmp_path_factory.mktemp("vgg19"))


@pytest.fixture(scope="module")
def api(tmp_path_factory, vgg19_file):
    # Three style steps: the mechanics, not a restyled look (1000 steps take an hour on this CPU).
    settings = {"progress_interval": 0.2, "model_report_samples": REPORT_SAMPLES, "style_steps": 3, "vgg19_weights": vgg19_file}
    with embedded_client(tmp_path_factory.mktemp("reports"), **settings) as client:
        yield client


@pytest.fixture(scope="module")
def trained(api, kvasir) -> dict:
    pair = api.post("/v1/pairs", files=upload_files(*kvasir(0))).json()
    return train_smoke(api, pair["id"])


def run_generation(api, model_id: str, **body) -> dict:
    """Queue a generation, run it to its end; returns its final state."""
    created = api.post("/v1/generations", json={"model_ids": [model_id], **body})
    assert created.status_code == 202, created.text
    run_job(api, "generation", created.json()["id"])
    return api.get(f"/v1/generations/{created.json()['id']}").json()


@pytest.fixture(scope="module")
def plain(api, trained) -> dict:
    return run_generation(api, trained["id"], samples_per_model=3, seed=5)


def fetch_png(api, url: str) -> bytes:
    response = api.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png" and response.content.startswith(PNG_SIGNATURE)
    assert min(Image.open(io.BytesIO(response.content)).size) > 40
    return response.content


def archive_pairs(api, generation_id: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (image, mask)} from a generation's zip."""
    with zipfile.ZipFile(io.BytesIO(api.get(f"/v1/generations/{generation_id}/archive").content)) as zf:
        names = [n[len("images/") :] for n in zf.namelist() if n.startswith("images/")]
        return {n: tuple(np.asarray(Image.open(io.BytesIO(zf.read(f"{kind}/{n}")))) for kind in ("images", "masks")) for n in names}


# --- reports -------------------------------------------------------------------------------


def test_model_report_is_computed_after_training(api, trained):
    assert trained["status"] == "succeeded" and trained["report_error"] is None
    response = api.get(f"/v1/models/{trained['id']}/report")
    assert response.status_code == 200, response.text
    body = response.json()
    report = body["report"]
    assert body["model_id"] == trained["id"] and report["format"] == "singan-seg-quality-report"
    assert report["samples"] == {"count": REPORT_SAMPLES, "size": [41, 49]} and len(report["per_sample"]) == REPORT_SAMPLES
    assert report["source"]["samples"] == {"generated": REPORT_SAMPLES, "seed": 0, "gen_start_scale": 0}
    assert 0.0 < report["masks"]["real_foreground_share"] < 1.0 and report["fidelity"]["swd_mean"] > 0.0
    # The model's own report stays inside: it names the training pair's stored files.
    assert report["source"]["real"]["image"].endswith("real_image.png")
    assert body["figures"] == {name: f"/v1/models/{trained['id']}/report/figures/{name}" for name in FIGURES}
    for url in body["figures"].values():
        fetch_png(api, url)


def test_generation_report_is_the_shareable_one_in_the_archive(api, trained, plain):
    assert plain["status"] == "succeeded", plain["error"]
    body = api.get(f"/v1/generations/{plain['id']}/report").json()
    assert body["generation_id"] == plain["id"] and [r["model_id"] for r in body["reports"]] == [trained["id"]]
    entry = body["reports"][0]
    report = entry["report"]
    content = api.get(f"/v1/generations/{plain['id']}/archive").content
    rows = check_archive(content, 3, [trained["id"]], seed=5)
    # Every pair of the archive, under its archive name, so a flagged near-copy names the file to drop.
    assert report["samples"]["count"] == plain["samples_per_model"] == 3
    assert [s["name"] for s in report["per_sample"]] == sorted(Path(r["image"]).stem for r in rows)
    assert entry["figures"] == {name: f"/v1/generations/{plain['id']}/report/{trained['id']}/figures/{name}" for name in FIGURES}

    folder = f"reports/{trained['id']}/"
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        assert sorted(n for n in zf.namelist() if n.startswith("reports/")) == sorted(folder + f for f in ["report.json", *FIGURES.values()])
        stored = zf.read(folder + "report.json").decode()
        assert json.loads(stored) == report
        for name, url in entry["figures"].items():
            assert fetch_png(api, url) == zf.read(folder + FIGURES[name])
    # Shareable: sizes only, no stored file names, no local paths, no upload name.
    assert report["source"] == {"samples": "given", "real": {"size": [41, 49]}}
    data_dir = str(api.app.state.services.settings.data_dir.resolve())
    for secret in (data_dir, "real_image", "real_mask", "cju0qkwl35piu0993l0dewei2"):
        assert secret not in stored
    assert data_dir in json.dumps(api.get(f"/v1/models/{trained['id']}/report").json())  # the inside report does have them


def test_unknown_ids_are_404_and_unknown_figures_422(api, trained, plain):
    other = "0" * 32
    for url, detail in [
        ("/v1/models/nope/report", "unknown model id nope"),
        ("/v1/models/nope/report/figures/samples", "unknown model id nope"),
        ("/v1/generations/nope/report", "unknown generation id nope"),
        (f"/v1/generations/nope/report/{trained['id']}/figures/samples", "unknown generation id nope"),
        (f"/v1/generations/{plain['id']}/report/{other}/figures/samples", f"generation {plain['id']} has no model {other}"),
    ]:
        response = api.get(url)
        assert (response.status_code, response.json()["detail"]) == (404, detail), url
    response = api.get(f"/v1/models/{trained['id']}/report/figures/report.json")
    assert response.status_code == 422
    assert response.json()["detail"] == "path.name: Input should be 'samples', 'foreground_share' or 'memorisation'"


def test_reports_of_unfinished_jobs_are_409(api, trained):
    model = api.post("/v1/models", json={"pair_id": trained["pair_id"], **SMOKE}).json()
    generation = api.post("/v1/generations", json={"model_ids": [trained["id"]]}).json()
    for url, detail in [
        (f"/v1/models/{model['id']}/report", f"model {model['id']} is queued; its quality report exists once it has succeeded"),
        (f"/v1/models/{model['id']}/report/figures/samples", f"model {model['id']} is queued; its quality report exists once it has succeeded"),
        (f"/v1/generations/{generation['id']}/report", f"generation {generation['id']} is queued; its quality report exists once it has succeeded"),
        (
            f"/v1/generations/{generation['id']}/report/{trained['id']}/figures/memorisation",
            f"generation {generation['id']} is queued; its quality report exists once it has succeeded",
        ),
    ]:
        response = api.get(url)
        assert (response.status_code, response.json()["detail"]) == (409, detail), url
    api.post(f"/v1/generations/{generation['id']}/cancel")
    response = api.get(f"/v1/generations/{generation['id']}/report")
    assert response.status_code == 409 and "is cancelled;" in response.json()["detail"]
    api.post(f"/v1/models/{model['id']}/cancel")


def test_a_model_whose_report_fails_still_succeeds_and_says_why(api, trained):
    model = api.post("/v1/models", json={"pair_id": trained["pair_id"], **SMOKE}).json()
    # A file where the report folder goes: a real failure to write the report, after a good training.
    blocker = api.app.state.services.store.path(f"models/{model['id']}/report")
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    run_job(api, "model", model["id"])
    done = api.get(f"/v1/models/{model['id']}").json()
    assert done["status"] == "succeeded" and done["error"] is None
    assert done["report_error"].startswith("FileExistsError: ") and str(blocker) in done["report_error"]
    detail = f"model {model['id']} succeeded without a quality report (computing it failed: {done['report_error']})"
    for url in (f"/v1/models/{model['id']}/report", f"/v1/models/{model['id']}/report/figures/samples"):
        response = api.get(url)
        assert (response.status_code, response.json()["detail"]) == (409, detail)


# --- style transfer --------------------------------------------------------------------------


def test_style_transfer_end_to_end_restyles_images_and_keeps_masks(api, trained, plain):
    runtime.vgg19.cache_clear()
    styled = run_generation(api, trained["id"], samples_per_model=3, seed=5, style_transfer=True)
    assert styled["status"] == "succeeded", styled["error"]
    assert runtime.vgg19.cache_info().currsize == 1 and runtime.vgg19.cache_info().misses == 1  # loaded once, kept
    check_archive(api.get(f"/v1/generations/{styled['id']}/archive").content, 3, [trained["id"]], seed=5, style_transfer=True)
    before, after = archive_pairs(api, plain["id"]), archive_pairs(api, styled["id"])
    assert sorted(before) == sorted(after)
    for name, (image, mask) in after.items():
        assert np.array_equal(mask, before[name][1]), f"style transfer changed mask {name}"
        change = np.abs(image.astype(int) - before[name][0].astype(int)).mean()
        assert 0.0 < change < 5.0, f"{name}: mean change {change:.2f} grey levels after 3 steps"
    # The archive's report is about the restyled images it ships: same masks, other distances.
    reports = [api.get(f"/v1/generations/{g['id']}/report").json()["reports"][0]["report"]["per_sample"] for g in (plain, styled)]
    assert [s["foreground_share"] for s in reports[0]] == [s["foreground_share"] for s in reports[1]]
    assert [s["distance"] for s in reports[0]] != [s["distance"] for s in reports[1]]


def test_long_style_transfer_renews_its_lease_and_stops_on_cancel(api, trained, monkeypatch):
    settings = api.app.state.services.settings
    monkeypatch.setattr(settings, "style_steps", 1_000_000)  # far longer than the test: only the cancel ends it
    generation = api.post("/v1/generations", json={"model_ids": [trained["id"]], "samples_per_model": 2, "style_transfer": True}).json()
    path = f"/v1/generations/{generation['id']}"
    worker = threading.Thread(target=run_job, args=(api, "generation", generation["id"]))
    worker.start()
    try:
        wait_for(lambda: (api.get(path).json()["progress"] or {}).get("stage") == "style_transfer", 60, "style transfer progress")

        def heartbeat():
            with api.app.state.services.sessions() as session:
                return session.get(Generation, generation["id"]).heartbeat_at

        first = heartbeat()
        wait_for(lambda: heartbeat() > first, 10, "the lease to be renewed while restyling")
        assert api.post(f"{path}/cancel").json()["status"] == "running"
    finally:
        worker.join(30)
    assert not worker.is_alive(), "style transfer did not stop within 30 s of the cancel"
    final = api.get(path).json()
    assert final["status"] == "cancelled" and final["archive"] is None
    assert final["progress"]["stage"] == "style_transfer" and final["progress"]["fraction"] < 1


def test_style_transfer_needs_the_weights_found_where_the_cli_looks(make_client, kvasir, vgg19_file):
    client = make_client()  # SINGAN_SEG_VGG19_WEIGHTS unset, empty torch hub folder
    hub_file = Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / TORCHVISION_FILE
    health = client.get("/healthz").json()["style_transfer"]
    assert health["ok"] is False and f"copy the file to {hub_file}" in health["detail"]
    model_id = finished_model(client, client.post("/v1/pairs", files=upload_files(*kvasir(0))).json()["id"])
    refused = client.post("/v1/generations", json={"model_ids": [model_id], "style_transfer": True})
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith(f"style_transfer: style transfer needs torchvision's ImageNet VGG19 weights {TORCHVISION_FILE}")
    assert f"copy the file to {hub_file} or set SINGAN_SEG_VGG19_WEIGHTS to its path" in refused.json()["detail"]
    assert client.get("/v1/generations").json() == []

    # The file in the torch hub folder, as the CLI finds it, serves the API as well.
    hub_file.parent.mkdir(parents=True)
    hub_file.symlink_to(vgg19_file)
    assert client.get("/healthz").json()["style_transfer"] == {"ok": True, "detail": f"VGG19 weights at {hub_file}"}
    accepted = client.post("/v1/generations", json={"model_ids": [model_id], "style_transfer": True})
    assert accepted.status_code == 202 and accepted.json()["style_transfer"] is True
    client.post(f"/v1/generations/{accepted.json()['id']}/cancel")
