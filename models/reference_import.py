"""Import a model trained by the SinGAN-Seg reference implementation, without running its pickles.

The reference saves ``Gs.pth`` as a pickled list of whole ``nn.Module`` objects, which
``torch.load(weights_only=True)`` refuses. Here a restricted unpickler reads torch's zip
format itself: ``find_class`` admits only the module classes the reference uses (each
mapped to a stand-in that merely collects its attributes), ``OrderedDict`` and ``set``,
and torch's two tensor-rebuild helpers (replaced by our own, which only slice the
stored bytes). Anything else in the pickle is an error, so nothing foreign executes.
"""

from __future__ import annotations

import math
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint
from .networks import Generator
from .resize import output_length

REFERENCE_FILES = ("Gs.pth", "Zs.pth", "reals.pth", "NoiseAmp.pth")


class ReferenceImportError(ValueError):
    """The folder is not a reference model this importer understands."""


class _ModuleRecord:
    """Stand-in for a pickled ``nn.Module``: keeps its attributes and nothing else."""

    class_name = ""

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


_MODULE_CLASSES = {
    ("SinGAN.models", "GeneratorConcatSkip2CleanAdd"),
    ("SinGAN.models", "ConvBlock"),
    ("torch.nn.modules.conv", "Conv2d"),
    ("torch.nn.modules.batchnorm", "BatchNorm2d"),
    ("torch.nn.modules.activation", "LeakyReLU"),
    ("torch.nn.modules.activation", "Tanh"),
    ("torch.nn.modules.container", "Sequential"),
}
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "BoolStorage": torch.bool,
}


class _StorageType:
    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


def _rebuild_tensor(storage: torch.Tensor, offset: int, size, stride, requires_grad=False, hooks=None, metadata=None) -> torch.Tensor:
    if not isinstance(storage, torch.Tensor):
        raise ReferenceImportError("malformed tensor record in pickle")
    return torch.as_strided(storage, tuple(size), tuple(stride), offset).clone()


def _rebuild_parameter(data: torch.Tensor, requires_grad=False, hooks=None) -> torch.Tensor:
    return data


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, archive: zipfile.ZipFile, prefix: str):
        super().__init__(file)
        self.archive = archive
        self.prefix = prefix
        self.module_classes = {key: type(key[1], (_ModuleRecord,), {"class_name": key[1]}) for key in _MODULE_CLASSES}

    def find_class(self, module: str, name: str):
        if (module, name) in self.module_classes:
            return self.module_classes[(module, name)]
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) in (("__builtin__", "set"), ("builtins", "set")):
            return set
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise ReferenceImportError(f"refusing to load {module}.{name}: not part of a SinGAN-Seg reference model")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise ReferenceImportError(f"unexpected persistent record {pid!r:.80}")
        _, storage_type, key, _location, numel = pid
        dtype = storage_type.dtype
        entry = f"{self.prefix}/data/{key}"
        expected = int(numel) * torch.empty(0, dtype=dtype).element_size()
        try:
            declared = self.archive.getinfo(entry).file_size
        except KeyError:
            raise ReferenceImportError(f"storage {key} is missing from the archive") from None
        if declared != expected:  # checked before reading, so a zip bomb is never inflated
            raise ReferenceImportError(f"storage {key}: {declared} bytes where {numel} elements need {expected}")
        raw = self.archive.read(entry)
        tensor = torch.from_numpy(np.frombuffer(raw, dtype=np.uint8).copy()).view(dtype)
        if tensor.numel() != numel:
            raise ReferenceImportError(f"storage {key}: expected {numel} elements, found {tensor.numel()}")
        return tensor


def load_reference_pickle(path: str | Path) -> Any:
    """Read one reference ``.pth`` file through the restricted unpickler."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ReferenceImportError(f"{path}: not a torch zip checkpoint ({exc})") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ReferenceImportError(f"{path}: expected one data.pkl in the archive, found {len(pickles)}")
        prefix = pickles[0][: -len("/data.pkl")]
        byteorder = archive.read(f"{prefix}/byteorder").decode() if f"{prefix}/byteorder" in archive.namelist() else "little"
        if byteorder != "little":
            raise ReferenceImportError(f"{path}: big-endian checkpoints are not supported")
        with archive.open(pickles[0]) as f:
            try:
                return _RestrictedUnpickler(f, archive, prefix).load()
            except ReferenceImportError as exc:
                raise ReferenceImportError(f"{path}: {exc}") from None
            except (pickle.UnpicklingError, EOFError, KeyError, TypeError, AttributeError, ValueError, RecursionError) as exc:
                raise ReferenceImportError(f"{path}: malformed checkpoint ({exc})") from None


def _state_dict(record: _ModuleRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    if not isinstance(record, _ModuleRecord):
        raise ReferenceImportError("expected a module record in Gs.pth")
    state: dict[str, torch.Tensor] = {}
    for name, value in {**record.__dict__.get("_parameters", {}), **record.__dict__.get("_buffers", {})}.items():
        if value is not None:
            state[prefix + name] = value
    for name, child in record.__dict__.get("_modules", {}).items():
        state.update(_state_dict(child, f"{prefix}{name}."))
    return state


def _generator_from_record(record: Any, index: int) -> Generator:
    if not isinstance(record, _ModuleRecord) or record.class_name != "GeneratorConcatSkip2CleanAdd":
        raise ReferenceImportError(f"Gs.pth entry {index} is not a SinGAN-Seg generator")
    state = _state_dict(record)
    try:
        width = state["head.conv.weight"].shape[0]
        min_width = state["body.block3.conv.weight"].shape[0]
    except KeyError as exc:
        raise ReferenceImportError(f"Gs.pth entry {index}: missing weight {exc}") from None
    gen = Generator(width, min_width)
    try:
        gen.load_state_dict(state)
    except RuntimeError as exc:
        raise ReferenceImportError(f"Gs.pth entry {index}: weights do not fit the SinGAN-Seg generator ({exc})") from None
    return gen.eval()


def import_reference(src_dir: str | Path, model_dir: str | Path, *, min_size: int = 25) -> Path:
    """Convert a reference model folder into this project's model folder (reference resize)."""
    src_dir, model_dir = Path(src_dir), Path(model_dir)
    if min_size < 1:
        raise ReferenceImportError(f"min_size must be a positive number of pixels, got {min_size}")
    missing = [f for f in REFERENCE_FILES if not (src_dir / f).is_file()]
    if missing:
        raise ReferenceImportError(f"{src_dir}: missing {', '.join(missing)} (a reference model folder holds {', '.join(REFERENCE_FILES)})")
    if (model_dir / checkpoint.MANIFEST).exists():
        raise FileExistsError(f"{model_dir} already holds a model; choose a new folder")
    gs = load_reference_pickle(src_dir / "Gs.pth")
    zs = load_reference_pickle(src_dir / "Zs.pth")
    reals = load_reference_pickle(src_dir / "reals.pth")
    amps = load_reference_pickle(src_dir / "NoiseAmp.pth")
    if not all(isinstance(v, list) for v in (gs, zs, reals, amps)) or not len(gs) == len(zs) == len(reals) == len(amps) >= 2:
        raise ReferenceImportError(f"{src_dir}: Gs, Zs, reals and NoiseAmp must be lists of equal length (at least 2 scales)")
    generators = [_generator_from_record(g, i) for i, g in enumerate(gs)]
    sizes = [tuple(int(v) for v in r.shape[-2:]) for r in reals]
    pad = (zs[0].shape[-1] - reals[0].shape[-1]) // 2
    z_opts = [z[:, :, pad : z.shape[2] - pad, pad : z.shape[3] - pad].float() for z in zs]
    for n, (z, size) in enumerate(zip(z_opts, sizes)):
        if tuple(z.shape[-2:]) != size or z.shape[1] != 4:
            raise ReferenceImportError(f"Zs.pth entry {n}: shape {tuple(zs[n].shape)} does not match scale size {size}")
    noise_amps = [float(a) for a in amps]
    # The reference does not save its scale factor; it follows from the sizes it produced.
    finest_h, finest_w = sizes[-1]
    stop_scale = len(sizes) - 1
    scale_factor = math.pow(min_size / min(finest_h, finest_w), 1 / stop_scale)
    expected = [
        (output_length(finest_h, math.pow(scale_factor, stop_scale - i)), output_length(finest_w, math.pow(scale_factor, stop_scale - i)))
        for i in range(stop_scale + 1)
    ]
    if expected != sizes:
        raise ReferenceImportError(f"{src_dir}: scale sizes {sizes} do not follow the reference pyramid for min_size={min_size}")
    model_dir.mkdir(parents=True, exist_ok=True)
    manifest = checkpoint.new_manifest(
        config={"min_size": min_size, "max_size": max(finest_h, finest_w), "nfc": generators[0].head.conv.out_channels},
        scale1=1.0,
        scale_factor=scale_factor,
        sizes=sizes,
        resize_mode="reference",
        provenance={"source": "imported", "reference_dir": str(src_dir.resolve())},
    )
    for n, gen in enumerate(generators):
        checkpoint.save_scale(model_dir, manifest, n, gen, z_opts[n], noise_amps[n], gen.head.conv.out_channels, gen.body.block3.conv.out_channels)
    return model_dir
