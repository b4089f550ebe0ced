"""The quality report of a model or a generated dataset: metrics, flags, figures, ``report.json``.

``build_report`` takes a model folder and/or a folder of samples (the output of
``singan-seg generate``) or samples in memory, and returns a JSON-able dict; with
``out_dir`` it also writes ``report.json`` and the PNG figures there.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..checkpoint import load_model
from ..generate import generate
from ..inputs import TrainingPair, load_image, load_pair, open_image, tensor_to_pair_arrays
from ..preview import sample_grid
from ..train import REAL_IMAGE_FILE, REAL_MASK_FILE, resolve_device
from .diversity import MAX_PAIRWISE_SAMPLES, mean_pairwise_distance, pixel_std_ratio
from .fidelity import swd_per_level
from .figures import foreground_histogram, memorisation_chart
from .masks import UNCERTAIN_HIGH, UNCERTAIN_LOW, count_components, foreground_shares, uncertain_shares
from .memorisation import NEAR_COPY_THRESHOLD, memorisation

FORMAT = "singan-seg-quality-report"
FORMAT_VERSION = 1
REPORT_FILE = "report.json"
FIGURES = {"samples": "samples.png", "foreground_share": "foreground_share.png", "memorisation": "memorisation.png"}
GENERATION_FILE = "generation.json"
DEFAULT_SAMPLES = 16
GRID_SAMPLES = 14  # with the real pair: three lines of five tiles


@dataclass(frozen=True)
class SampleSet:
    """Synthetic pairs as the report reads them."""

    images: np.ndarray  # [N, H, W, 3] uint8
    masks: np.ndarray  # [N, H, W] bool, after thresholding
    raw_masks: np.ndarray | None  # [N, H, W] in [0, 1] before thresholding, when known
    names: list[str]


def samples_from_tensor(samples: torch.Tensor, names: list[str] | None = None) -> SampleSet:
    """Generator output [N, 4, H, W] in [-1, 1]: the raw mask channel is kept."""
    images, masks = tensor_to_pair_arrays(samples)
    raw = ((samples[:, 3].detach().double().cpu() + 1.0) / 2.0).clamp(0.0, 1.0).numpy()
    return SampleSet(images, masks > 0, raw, names or [f"sample_{i:05d}" for i in range(len(images))])


def read_samples_dir(samples_dir: str | Path) -> SampleSet:
    """``images/NAME.png`` with ``masks/NAME.png``, as ``generate`` writes them.

    Masks in {0, 255} were thresholded when written (raw values unknown); greyscale
    masks (``generate --raw-mask``) are raw values, thresholded here as generation does.
    """
    samples_dir = Path(samples_dir)
    image_dir, mask_dir = samples_dir / "images", samples_dir / "masks"
    if not image_dir.is_dir() or not mask_dir.is_dir():
        raise ValueError(f"{samples_dir}: not a generated dataset (needs images/ and masks/ folders)")
    image_paths = sorted(p for p in image_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    if not image_paths:
        raise ValueError(f"{image_dir}: holds no images")
    missing = [p.name for p in image_paths if not (mask_dir / p.name).is_file()]
    if missing:
        raise ValueError(f"{mask_dir}: no mask for {len(missing)} image(s), first {missing[0]}")
    images = [load_image(p) for p in image_paths]
    masks = [np.asarray(open_image(mask_dir / p.name).convert("L")) for p in image_paths]
    sizes = {im.shape[:2] for im in images} | {m.shape for m in masks}
    if len(sizes) > 1:
        raise ValueError(f"{samples_dir}: images and masks differ in size ({sorted(sizes)}); evaluate one size at a time")
    mask_values = np.stack(masks)
    thresholded = bool(np.isin(mask_values, (0, 255)).all())
    raw = None if thresholded else mask_values / 255.0
    return SampleSet(np.stack(images), mask_values / 255.0 > 0.5, raw, [p.stem for p in image_paths])


def read_model_real_pair(model_dir: str | Path) -> TrainingPair:
    """The training pair at the model's working size, as ``train`` stored it."""
    model_dir = Path(model_dir)
    if not (model_dir / REAL_IMAGE_FILE).is_file():
        raise ValueError(
            f"{model_dir}: has no {REAL_IMAGE_FILE} (an imported reference model?); give the training pair with --real IMAGE MASK"
        )
    return load_pair(model_dir / REAL_IMAGE_FILE, model_dir / REAL_MASK_FILE)


def read_generation_record(samples_dir: str | Path) -> dict | None:
    """The ``generation.json`` that ``generate`` writes beside a dataset, if any."""
    record = Path(samples_dir) / GENERATION_FILE
    if not record.is_file():
        return None
    try:
        data = json.loads(record.read_text())
    except ValueError as exc:
        raise ValueError(f"{record}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{record}: expected a JSON object, as `singan-seg generate` writes")
    return data


def dataset_model_dir(samples_dir: str | Path) -> Path | None:
    """The model folder a generated dataset records in ``generation.json``, if any."""
    model_dir = (read_generation_record(samples_dir) or {}).get("model_dir")
    return Path(model_dir) if isinstance(model_dir, str) and model_dir else None


def _fit_real(real: TrainingPair, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The real pair at the samples' (h, w): bicubic image, nearest-neighbour mask."""
    h, w = size
    if real.image.shape[:2] == size:
        return real.image, real.mask
    image = np.asarray(Image.fromarray(real.image).resize((w, h), Image.BICUBIC))
    mask = np.asarray(Image.fromarray(real.mask).resize((w, h), Image.NEAREST))
    return image, mask


def _summary(values: np.ndarray) -> dict:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "min": float(np.min(values)), "max": float(np.max(values))}


def compute_metrics(real_image: np.ndarray, real_mask: np.ndarray, samples: SampleSet, seed: int = 0) -> dict:
    """All metrics for samples at the real pair's size: the report without its source and figures."""
    n = len(samples.names)
    shares = foreground_shares(samples.masks)
    components = [count_components(m) for m in samples.masks]
    uncertain = uncertain_shares(samples.raw_masks) if samples.raw_masks is not None else None
    memo = memorisation(real_image, samples.images)
    per_sample = [
        {
            "name": name,
            "foreground_share": float(shares[i]),
            "components": components[i],
            "uncertain_share": None if uncertain is None else float(uncertain[i]),
            "empty": bool(shares[i] == 0.0),
            "full": bool(shares[i] == 1.0),
            **memo[i],
        }
        for i, name in enumerate(samples.names)
    ]
    levels = swd_per_level(real_image, samples.images, seed=seed)
    diverse = n >= 2
    report = {
        "samples": {"count": n, "size": list(samples.images.shape[1:3])},
        "fidelity": {
            "method": "sliced Wasserstein distance of 7x7 patches per Laplacian pyramid level, finest first, in units of the real image's contrast",
            "levels": levels,
            "swd_mean": float(np.mean([lv["swd"] for lv in levels])),
            "real_vs_real_mean": float(np.mean([lv["real_vs_real"] for lv in levels])),
        },
        "diversity": {
            "pixel_std_ratio": pixel_std_ratio(real_image, samples.images) if diverse else None,
            "mean_pairwise_distance": mean_pairwise_distance(real_image, samples.images) if diverse else None,
            "pairwise_samples": min(n, MAX_PAIRWISE_SAMPLES) if diverse else 0,
        },
        "masks": {
            "real_foreground_share": float(np.mean(real_mask > 0)),
            "real_components": count_components(real_mask),
            "foreground_share": _summary(shares),
            "components": _summary(np.array(components)),
            "uncertain_share": None if uncertain is None else _summary(uncertain),
            "uncertain_band": [UNCERTAIN_LOW, UNCERTAIN_HIGH],
            "empty": [s["name"] for s in per_sample if s["empty"]],
            "full": [s["name"] for s in per_sample if s["full"]],
        },
        "memorisation": {
            "threshold": NEAR_COPY_THRESHOLD,
            "min_distance": min(min(s["distance"], s["distance_mirrored"]) for s in per_sample),
            "near_copies": [s["name"] for s in per_sample if s["near_copy"]],
        },
        "per_sample": per_sample,
    }
    if uncertain is None:
        report["masks"]["uncertain_note"] = "masks were thresholded when written; raw mask values are unknown"
    report["flags"] = _flags(report)
    return report


def _flags(report: dict) -> list[str]:
    """Plain-language warnings for what should stop someone from sharing the samples as they are."""
    flags = []
    n = report["samples"]["count"]
    copies = report["memorisation"]["near_copies"]
    if copies:
        flags.append(f"{len(copies)} of {n} samples are near-copies of the training image: {', '.join(copies)}")
    for kind in ("empty", "full"):
        names = report["masks"][kind]
        if names:
            flags.append(f"{len(names)} of {n} masks are {kind}: {', '.join(names)}")
    pairwise = report["diversity"]["mean_pairwise_distance"]
    if pairwise is not None and pairwise < NEAR_COPY_THRESHOLD:
        flags.append(f"samples are near-copies of each other (mean pairwise distance {pairwise:.3f} < {NEAR_COPY_THRESHOLD})")
    return flags


def write_figures(
    real_image: np.ndarray, real_mask: np.ndarray, samples: SampleSet, report: dict, out_dir: Path, shareable: bool = False
) -> dict:
    """Write the PNG figures into ``out_dir``; returns {figure: file name}.

    The sample grid starts with the real pair, unless ``shareable``: then the first
    sample takes the real pair's place (the grid shows synthetic pairs only).
    """
    masks_u8 = samples.masks.astype(np.uint8) * 255
    if shareable:
        grid = sample_grid(samples.images[0], masks_u8[0], samples.images[1 : GRID_SAMPLES + 1], masks_u8[1 : GRID_SAMPLES + 1])
    else:
        grid = sample_grid(real_image, real_mask, samples.images[:GRID_SAMPLES], masks_u8[:GRID_SAMPLES])
    grid.save(out_dir / FIGURES["samples"])
    shares = np.array([s["foreground_share"] for s in report["per_sample"]])
    foreground_histogram(shares, report["masks"]["real_foreground_share"]).save(out_dir / FIGURES["foreground_share"])
    nearest = np.array([min(s["distance"], s["distance_mirrored"]) for s in report["per_sample"]])
    flags = np.array([s["near_copy"] for s in report["per_sample"]])
    memorisation_chart(nearest, flags, report["memorisation"]["threshold"]).save(out_dir / FIGURES["memorisation"])
    return dict(FIGURES)


def _without_paths(source: dict) -> dict:
    """``source`` minus local paths and file names."""
    out = {k: v for k, v in source.items() if k not in ("model_dir", "samples_dir")}
    out["real"] = {k: v for k, v in source["real"].items() if k not in ("image", "mask")}
    if "generation" in source:
        out["generation"] = {k: v for k, v in source["generation"].items() if k != "model_dir"}
        if out["generation"].get("style_transfer"):
            out["generation"]["style_transfer"] = {k: v for k, v in out["generation"]["style_transfer"].items() if k != "vgg19_weights"}
    return out


def build_report(
    model_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    *,
    samples: torch.Tensor | SampleSet | None = None,
    samples_dir: str | Path | None = None,
    real: TrainingPair | tuple[str | Path, str | Path] | None = None,
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    gen_start_scale: int = 0,
    device: str = "cpu",
    shareable: bool = False,
) -> dict:
    """The quality report as a JSON-able dict; with ``out_dir``, also ``report.json`` and figures there.

    Samples come from, in this order: ``samples_dir`` (a generated dataset), ``samples``
    (generator output [N, 4, H, W] in [-1, 1], or a ``SampleSet``), or ``num_samples``
    drawn from the model in ``model_dir`` with ``seed`` (the same samples as
    ``generate`` with that seed and count). The training pair is ``real`` (a loaded pair or image
    and mask paths; resized to the samples' size) or the one the model folder stores.

    ``shareable``: for a report that leaves with the synthetic data (a generation
    archive): the sample grid shows no real pair and ``source`` keeps no file paths or
    names (they can identify patients), only sizes and generation settings.
    """
    started = time.monotonic()
    if model_dir is None and (real is None or (samples is None and samples_dir is None)):
        raise ValueError("a report needs a model folder, or samples together with the real pair")
    source: dict = {"model_dir": None if model_dir is None else str(Path(model_dir).resolve())}
    if samples_dir is not None:
        sample_set = read_samples_dir(samples_dir)
        source["samples_dir"] = str(Path(samples_dir).resolve())
        record = read_generation_record(samples_dir)
        if record is not None:
            source["generation"] = {k: v for k, v in record.items() if k != "names"}
    elif samples is not None:
        sample_set = samples if isinstance(samples, SampleSet) else samples_from_tensor(samples)
        source["samples"] = "given"
    else:
        model = load_model(model_dir, device=resolve_device(device))
        sample_set = samples_from_tensor(generate(model, num_samples, seed=seed, gen_start_scale=gen_start_scale))
        source["samples"] = {"generated": num_samples, "seed": seed, "gen_start_scale": gen_start_scale}
    if isinstance(real, tuple):
        real = load_pair(*real)
    real_pair = real if real is not None else read_model_real_pair(model_dir)
    size = tuple(sample_set.images.shape[1:3])
    real_image, real_mask = _fit_real(real_pair, size)
    source["real"] = {"image": real_pair.image_name, "mask": real_pair.mask_name, "size": [real_pair.height, real_pair.width]}
    if real_pair.image.shape[:2] != size:
        source["real"]["resized_to"] = list(size)

    report = {"format": FORMAT, "format_version": FORMAT_VERSION, "source": _without_paths(source) if shareable else source}
    report.update(compute_metrics(real_image, real_mask, sample_set, seed=seed))
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        report["figures"] = write_figures(real_image, real_mask, sample_set, report, out_dir, shareable)
    report["seconds"] = round(time.monotonic() - started, 3)
    if out_dir is not None:
        (out_dir / REPORT_FILE).write_text(json.dumps(report, indent=1))
    return report


def format_table(report: dict) -> str:
    """The report as text for a terminal: summary lines, then one row per sample."""
    fid, div, msk, mem = report["fidelity"], report["diversity"], report["masks"], report["memorisation"]
    n = report["samples"]["count"]
    h, w = report["samples"]["size"]

    def num(value: float | None, fmt: str = ".3f") -> str:
        return "-" if value is None else format(value, fmt)

    lines = [
        f"samples                 {n} at {w}x{h}",
        "fidelity (SWD per level, finest first; real-vs-real floor in brackets)",
        "  " + "  ".join(f"L{lv['level']} {lv['swd']:.3f} [{lv['real_vs_real']:.3f}]" for lv in fid["levels"]),
        f"diversity               pixel std ratio {num(div['pixel_std_ratio'])}, mean pairwise distance {num(div['mean_pairwise_distance'])}",
        f"mask foreground share   real {msk['real_foreground_share']:.1%}, synthetic {msk['foreground_share']['mean']:.1%} "
        f"+- {msk['foreground_share']['std']:.1%} (min {msk['foreground_share']['min']:.1%}, max {msk['foreground_share']['max']:.1%})",
        f"mask components         real {msk['real_components']}, synthetic mean {msk['components']['mean']:.1f} (max {msk['components']['max']:.0f})",
        f"uncertain mask pixels   "
        + (f"mean {msk['uncertain_share']['mean']:.2%}, max {msk['uncertain_share']['max']:.2%}" if msk["uncertain_share"] else msk.get("uncertain_note", "-")),
        f"memorisation            nearest {mem['min_distance']:.3f} (near-copy below {mem['threshold']}), near-copies {len(mem['near_copies'])}",
        "",
        f"{'sample':<24} {'fg share':>8} {'comp':>5} {'uncert':>7} {'dist':>6} {'mirror':>6}  flags",
    ]
    for s in report["per_sample"]:
        flags = [name for name in ("near_copy", "empty", "full") if s[name]]
        uncertain = "-" if s["uncertain_share"] is None else f"{s['uncertain_share']:.2%}"
        lines.append(
            f"{s['name'][:24]:<24} {s['foreground_share']:>8.1%} {s['components']:>5d} {uncertain:>7} "
            f"{s['distance']:>6.3f} {s['distance_mirrored']:>6.3f}  {' '.join(flags)}"
        )
    lines.append("")
    lines += [f"WARNING: {flag}" for flag in report["flags"]] or ["no flags"]
    return "\n".join(lines)
