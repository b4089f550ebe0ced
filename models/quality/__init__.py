"""Quality report of synthetic pairs, computed without any downloaded network.

- ``fidelity``: sliced Wasserstein distance of patches per Laplacian pyramid level.
- ``diversity``: per-pixel std across samples against the real image's, pairwise distance.
- ``masks``: foreground share, connected components, uncertain pixels, empty/full masks.
- ``memorisation``: distance of each sample to the training image and its mirror; near-copies flagged.
- ``report``: all of it for a model or a generated dataset, as a dict, ``report.json`` and figures.
"""

from .report import FIGURES, REPORT_FILE, SampleSet, build_report, dataset_model_dir, format_table, read_samples_dir, samples_from_tensor

__all__ = [
    "FIGURES",
    "REPORT_FILE",
    "SampleSet",
    "build_report",
    "dataset_model_dir",
    "format_table",
    "read_samples_dir",
    "samples_from_tensor",
]
