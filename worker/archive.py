"""The generation archive: ``images/``, ``masks/``, ``manifest.csv`` and ``reports/`` in one zip."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import zipfile
from pathlib import Path

MANIFEST_FIELDS = ("image", "mask", "model_id", "pair_name", "sample_index", "seed", "gen_start_scale", "style_transfer")
# Spreadsheets run a cell starting with one of these as a formula (CSV injection); OWASP's
# rule is to prefix such text cells with a quote, which makes them plain text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: object) -> object:
    """``value`` safe for a spreadsheet cell: text that would start a formula gets a leading ``'``."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def build_archive(pairs_dir: Path, rows: list[dict], reports_dir: Path, target: Path) -> tuple[int, str]:
    """Zip ``pairs_dir/images/*.png`` and ``masks/*.png`` listed in ``rows``, the manifest, and
    every file under ``reports_dir`` (``MODEL_ID/report.json`` and figures) as ``reports/...``.

    Written to a temporary name and renamed, so a zip at ``target`` is always complete.
    Returns (size in bytes, sha256).
    """
    manifest = io.StringIO()
    # CRLF (RFC 4180) rather than "\n": the csv module quotes only fields holding a character of
    # the line terminator, so with "\n" a lone CR in a field would go out bare and split the row.
    writer = csv.DictWriter(manifest, fieldnames=MANIFEST_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({key: csv_text(value) for key, value in row.items()} for row in rows)
    partial = target.with_name(target.name + ".partial")
    # PNGs are already compressed: store them, deflate only the manifest and report.json files.
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as zf:
        for row in rows:
            zf.write(pairs_dir / row["image"], row["image"])
            zf.write(pairs_dir / row["mask"], row["mask"])
        zf.writestr("manifest.csv", manifest.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
        for path in sorted(p for p in reports_dir.rglob("*") if p.is_file()):
            deflate = zipfile.ZIP_DEFLATED if path.suffix == ".json" else None
            zf.write(path, f"reports/{path.relative_to(reports_dir).as_posix()}", compress_type=deflate)
    digest = hashlib.sha256()
    with open(partial, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    os.replace(partial, target)
    return target.stat().st_size, digest.hexdigest()
