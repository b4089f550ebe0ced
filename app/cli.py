"""The ``singan-seg`` command line.

Each subcommand is one function ``cmd_NAME(args)`` registered in ``build_parser``.
Errors the user can fix print one line and exit 2; they never print a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable

EXIT_USAGE = 2


class CommandError(Exception):
    """A problem the user can fix; printed as one line."""


def _progress_bar(total: int, desc: str, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, disable=None)


# --- train -----------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> None:
    from models import load_pair, load_rgba_pair, preset, train
    from models.generate import generate
    from models.train import TrainProgress

    overrides = {"seed": args.seed, "device": args.device}
    if args.niter is not None:
        overrides["niter"] = args.niter
    if args.max_size is not None:
        overrides["max_size"] = args.max_size
    config = preset(args.preset, **overrides)
    if args.rgba_mask:
        if args.mask is not None:
            raise CommandError("--rgba-mask reads the mask from IMAGE's alpha channel; do not pass MASK too")
        pair = load_rgba_pair(args.image)
    else:
        if args.mask is None:
            raise CommandError("MASK is required (or pass --rgba-mask if IMAGE's alpha channel is the mask)")
        pair = load_pair(args.image, args.mask)
    print(
        f"{pair.image_name}: {pair.width}x{pair.height}, mask foreground {pair.foreground_share:.1%}; "
        f"preset {config.preset} ({config.niter} iterations per scale, long side {config.max_size} px)",
        file=sys.stderr,
    )
    bar = None

    def on_progress(p: TrainProgress) -> None:
        nonlocal bar
        if bar is None or bar.total != p.iterations or getattr(bar, "scale", None) != p.scale:
            if bar is not None:
                bar.close()
            bar = _progress_bar(p.iterations, f"scale {p.scale + 1}/{p.scales}", "it")
            bar.scale = p.scale
        bar.n = p.iteration
        eta = f"{p.eta_seconds / 60:.1f} min" if p.eta_seconds is not None else "?"
        bar.set_postfix_str(f"total {p.fraction:.0%}, ETA {eta}", refresh=False)
        bar.refresh()
        if bar.disable and p.iteration == p.iterations:  # no terminal: one line per finished scale
            print(f"scale {p.scale + 1}/{p.scales} done, total {p.fraction:.0%}, ETA {eta}", file=sys.stderr, flush=True)

    model = train(pair, config, _output_folder(args.output), resume=args.resume, progress=on_progress)
    if bar is not None:
        bar.close()
    _write_preview(model, Path(args.output), generate)
    print(f"model written to {args.output} ({model.num_scales} scales); sample grid: {Path(args.output) / 'samples.png'}")


def _write_preview(model, model_dir: Path, generate: Callable) -> None:
    import numpy as np
    from PIL import Image

    from models.inputs import tensor_to_pair_arrays
    from models.preview import sample_grid
    from models.train import REAL_IMAGE_FILE, REAL_MASK_FILE

    images, masks = tensor_to_pair_arrays(generate(model, 8, seed=0))
    real_image = np.asarray(Image.open(model_dir / REAL_IMAGE_FILE).convert("RGB"))
    real_mask = np.asarray(Image.open(model_dir / REAL_MASK_FILE).convert("L"))
    sample_grid(real_image, real_mask, images, masks).save(model_dir / "samples.png")


# --- generate --------------------------------------------------------------------------


def _output_folder(path: str) -> Path:
    """Check an output folder argument before any work is done."""
    if not path.strip():
        raise CommandError("the output folder must not be empty")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise CommandError(f"{folder}: exists and is a file, not a folder")
    return folder


def cmd_generate(args: argparse.Namespace) -> None:
    import shutil

    from models import generate, load_model, write_pairs
    from models.generate import check_sample_names
    from models.train import resolve_device

    out_dir = _output_folder(args.output)
    names = [f"{args.prefix}{i:05d}" for i in range(max(args.num_samples, 0))]
    check_sample_names(names[:1])  # the prefix is the only part that varies by user
    model = load_model(args.model_dir, device=resolve_device(args.device))
    weights = _vgg19_weights(args.vgg19_weights) if args.style_transfer else None  # fail before generating
    if (out_dir / "images").exists() and any((out_dir / "images").iterdir()):
        if not args.overwrite:
            raise CommandError(f"{out_dir} already holds generated images; pass --overwrite or choose a new folder")
    bar = _progress_bar(args.num_samples, "generating", "sample")

    def on_progress(done: int, total: int) -> None:
        bar.n = done
        bar.refresh()

    samples = generate(
        model,
        args.num_samples,
        gen_start_scale=args.gen_start_scale,
        seed=args.seed,
        scale_v=args.scale_v,
        scale_h=args.scale_h,
        batch_size=args.batch_size,
        progress=on_progress,
    )
    bar.close()
    if weights is not None:
        samples = _stylize_samples(samples, Path(args.model_dir), weights, args)
    if args.overwrite:  # the dataset is replaced, not mixed with an earlier one
        for sub in ("images", "masks"):
            shutil.rmtree(out_dir / sub, ignore_errors=True)
    write_pairs(samples, out_dir, names, threshold_mask=not args.raw_mask)
    record = {
        "model_dir": str(Path(args.model_dir).resolve()),
        "num_samples": args.num_samples,
        "gen_start_scale": args.gen_start_scale,
        "seed": args.seed,
        "scale_v": args.scale_v,
        "scale_h": args.scale_h,
        "style_transfer": _style_record(weights, args) if weights is not None else None,
        "names": names,
    }
    (out_dir / "generation.json").write_text(json.dumps(record, indent=1))
    print(f"{args.num_samples} pairs written to {out_dir}/images and {out_dir}/masks")


# --- import-reference ------------------------------------------------------------------


def cmd_import_reference(args: argparse.Namespace) -> None:
    from models.reference_import import import_reference

    import_reference(args.src_dir, _output_folder(args.output), min_size=args.min_size)
    print(f"reference model imported into {args.output}")


# --- info ------------------------------------------------------------------------------


def cmd_info(args: argparse.Namespace) -> None:
    from models.checkpoint import is_complete, read_manifest

    manifest = read_manifest(args.model_dir)
    if args.json:
        print(json.dumps(manifest, indent=1))
        return
    sizes = manifest["pyramid"]["sizes"]
    done = len(manifest["scales"])
    prov = manifest["provenance"]
    print(f"model:        {args.model_dir}")
    print(f"status:       {'complete' if is_complete(manifest) else f'incomplete ({done} of {len(sizes)} scales)'}")
    print(f"source:       {prov.get('source')} {prov.get('image', prov.get('reference_dir', ''))}")
    print(f"preset:       {manifest['config'].get('preset', '-')}, resize {manifest['resize_mode']}")
    print(f"output size:  {sizes[-1][1]}x{sizes[-1][0]} (w x h), {len(sizes)} scales, factor {manifest['pyramid']['scale_factor']:.4f}")
    for n, (h, w) in enumerate(sizes):
        entry = manifest["scales"][n] if n < done else None
        detail = f"width {entry['width']:3d}, noise amp {entry['noise_amp']:.4f}" if entry else "not trained"
        seconds = f", {entry['seconds']:.1f} s" if entry and "seconds" in entry else ""
        print(f"  scale {n}: {w:4d}x{h:<4d} {detail}{seconds}")


# --- serve / worker --------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> None:
    import os
    import signal
    import subprocess
    import threading

    import uvicorn

    from app.db import migrate
    from app.jobs import requeue_orphans
    from app.main import create_app
    from app.settings import Settings

    settings = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.embedded:
        migrate(settings.db_url)  # cluster databases are migrated by `alembic upgrade head`
    app = create_app(settings)
    worker = None
    if not args.no_worker:
        if settings.embedded:
            requeued = requeue_orphans(app.state.services)
            if requeued:
                print(f"re-queued {len(requeued)} job(s) interrupted by the last shutdown", file=sys.stderr)
        # A separate process: training never competes with the API for the GIL. It runs from
        # this code's own root, so a checkout in the current folder cannot shadow it.
        env = {**os.environ, "SINGAN_SEG_DATA_DIR": str(settings.data_dir.resolve())}
        code_root = Path(__file__).resolve().parents[1]
        worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env, cwd=code_root)
    stopping = threading.Event()
    worker_died = threading.Event()

    def watch_worker() -> None:
        """Without its worker the service would queue jobs forever: stop and say why."""
        code = worker.wait()
        if not stopping.is_set():
            worker_died.set()
            print(f"singan-seg serve: error: the worker process exited (code {code}); stopping the service", file=sys.stderr)
            os.kill(os.getpid(), signal.SIGTERM)

    if worker is not None:
        threading.Thread(target=watch_worker, name="worker-watch", daemon=True).start()
    # uvicorn re-raises SIGTERM after its graceful shutdown; exit through `finally` so the worker stops too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1 if worker_died.is_set() else 0))
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.log_level == "debug")
    finally:
        stopping.set()
        if worker is not None and worker.poll() is None:
            # Finished scales are saved; an interrupted job is re-queued by the next `serve`.
            worker.send_signal(signal.SIGQUIT)
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
    if worker_died.is_set():
        sys.exit(1)


def cmd_worker(args: argparse.Namespace) -> None:
    import os

    if args.data_dir:
        os.environ["SINGAN_SEG_DATA_DIR"] = str(Path(args.data_dir).resolve())
    from worker.celery_app import celery

    queue = celery.conf.task_default_queue
    celery.worker_main(
        ["worker", "--pool", "solo", "--queues", queue, "--hostname", f"singan-seg-{os.getpid()}@%h", "--loglevel", args.log_level,
         "--without-gossip", "--without-mingle", "--without-heartbeat"]
    )


# --- style transfer --------------------------------------------------------------------


def _vgg19_weights(explicit: str | None) -> Path:
    """The VGG19 weight file: --vgg19-weights, else $SINGAN_SEG_VGG19_WEIGHTS, else the torch hub folder."""
    from models.vgg19 import SETTING, find_vgg19_weights

    return find_vgg19_weights(explicit or os.environ.get(SETTING))


def _style_options(args: argparse.Namespace, steps: int) -> dict:
    """stylize_batch keyword arguments from the shared options, with a progress bar on stderr."""
    bar = None

    def on_progress(p) -> None:
        nonlocal bar
        if bar is None:
            bar = _progress_bar(p.images * p.steps, "style transfer", "step")
        bar.n = round(p.fraction * p.images * p.steps)
        bar.set_postfix_str(f"content {p.content_loss:.3g}, style {p.style_loss:.3g}", refresh=False)
        bar.refresh()

    return {
        "steps": steps,
        "content_weight": args.content_weight,
        "style_weight": args.style_weight,
        "device": args.device,
        "batch_size": args.style_batch_size,
        "progress": on_progress,
    }


def _style_record(weights: Path, args: argparse.Namespace) -> dict:
    return {"steps": args.style_steps, "content_weight": args.content_weight, "style_weight": args.style_weight, "vgg19_weights": str(weights)}


def _stylize_samples(samples, model_dir: Path, weights: Path, args: argparse.Namespace):
    """The samples' RGB restyled after the model's training image; masks untouched."""
    from models.inputs import load_image
    from models.style_transfer import stylize_samples
    from models.train import REAL_IMAGE_FILE

    style_path = model_dir / REAL_IMAGE_FILE
    if not style_path.is_file():
        raise CommandError(f"{model_dir} has no {REAL_IMAGE_FILE} to take the style from (an imported reference model?)")
    style = load_image(style_path)
    return stylize_samples(samples, style, weights, **_style_options(args, args.style_steps))


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")


def cmd_stylize(args: argparse.Namespace) -> None:
    import numpy as np
    from PIL import Image

    from models.inputs import load_image
    from models.style_transfer import stylize_batch
    from models.vgg19 import load_vgg19

    content = Path(args.content)
    if content.is_dir():
        paths = sorted(p for p in content.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise CommandError(f"{content}: holds no images ({', '.join(IMAGE_SUFFIXES)})")
    elif content.is_file():
        paths = [content]
    else:
        raise CommandError(f"{content}: no such file or folder")
    out_dir = _output_folder(args.output)
    clashes = [p.stem for p in paths if (out_dir / f"{p.stem}.png").exists()]
    if clashes and not args.overwrite:
        raise CommandError(f"{out_dir} already holds {clashes[0]}.png; pass --overwrite or choose a new folder")
    style = load_image(Path(args.style))
    vgg = load_vgg19(_vgg19_weights(args.vgg19_weights), "cpu")
    images = [load_image(p) for p in paths]
    out_dir.mkdir(parents=True, exist_ok=True)
    options = _style_options(args, args.steps)
    for size in sorted({im.shape for im in images}):  # one optimisation per image size
        group = [i for i, im in enumerate(images) if im.shape == size]
        styled = stylize_batch(np.stack([images[i] for i in group]), style, vgg, **options)
        for i, image in zip(group, styled):
            Image.fromarray(image).save(out_dir / f"{paths[i].stem}.png")
    print(f"{len(paths)} image(s) restyled after {args.style} into {out_dir}")


# --- evaluate --------------------------------------------------------------------------


def cmd_evaluate(args: argparse.Namespace) -> None:
    from models.quality import REPORT_FILE, build_report, dataset_model_dir, format_table

    path = Path(args.path)
    real = tuple(args.real) if args.real else None
    out_dir = _output_folder(args.output) if args.output else path / "report"
    if (path / "model.json").is_file():
        report = build_report(path, out_dir, real=real, num_samples=args.num_samples, seed=args.seed, device=args.device)
    elif (path / "images").is_dir():
        model_dir = dataset_model_dir(path)
        if real is None and (model_dir is None or not (model_dir / "model.json").is_file()):
            where = f"its model {model_dir} is gone" if model_dir else "it records no model (no generation.json)"
            raise CommandError(f"{path}: cannot find the training pair, {where}; pass --real IMAGE MASK")
        # A dataset's report travels with the dataset: no training image, no local paths.
        report = build_report(model_dir if real is None else None, out_dir, samples_dir=path, real=real, shareable=True)
    else:
        raise CommandError(f"{path}: neither a model folder (model.json) nor a generated dataset (images/ and masks/)")
    print(format_table(report))
    print(f"\nreport written to {out_dir / REPORT_FILE} with figures {', '.join(report['figures'].values())}")


# --- parser ----------------------------------------------------------------------------


def _add_style_options(p: argparse.ArgumentParser, steps_flag: str) -> None:
    from models.style_transfer import DEFAULT_BATCH_SIZE, DEFAULT_CONTENT_WEIGHT, DEFAULT_STEPS, DEFAULT_STYLE_WEIGHT

    p.add_argument(steps_flag, type=int, default=DEFAULT_STEPS, help=f"style transfer optimisation steps (default {DEFAULT_STEPS})")
    p.add_argument("--content-weight", type=float, default=DEFAULT_CONTENT_WEIGHT, help=f"default {DEFAULT_CONTENT_WEIGHT:g}")
    p.add_argument("--style-weight", type=float, default=DEFAULT_STYLE_WEIGHT, help=f"default {DEFAULT_STYLE_WEIGHT:g}")
    p.add_argument("--style-batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="images optimised together")
    p.add_argument("--vgg19-weights", help="torchvision's vgg19-dcbb9e9d.pth (default: $SINGAN_SEG_VGG19_WEIGHTS, then the torch hub checkpoints folder)")


def build_parser() -> argparse.ArgumentParser:
    from models.config import PRESETS

    parser = argparse.ArgumentParser(prog="singan-seg", description="SinGAN-Seg: synthetic image/mask pairs from single real pairs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model on one image and its mask")
    p.add_argument("image", help="image file (JPEG, PNG, TIFF, GIF, BMP)")
    p.add_argument("mask", nargs="?", help="mask file of the same size (omit with --rgba-mask)")
    p.add_argument("-o", "--output", required=True, help="model folder to write")
    p.add_argument("--preset", choices=PRESETS, default="fast", help="paper: SPEC defaults (hours); fast: minutes on a CPU; smoke: seconds, for tests")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--niter", type=int, help="override iterations per scale")
    p.add_argument("--max-size", type=int, help="override the long side of the finest scale, in px")
    p.add_argument("--resume", action="store_true", help="continue a model folder after its last finished scale")
    p.add_argument("--rgba-mask", action="store_true", help="IMAGE is one RGBA file whose alpha channel is the mask (the reference tool's format)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("generate", help="sample synthetic image/mask pairs from a model")
    p.add_argument("model_dir")
    p.add_argument("-n", "--num-samples", type=int, required=True)
    p.add_argument("-o", "--output", required=True, help="folder for images/ and masks/")
    p.add_argument("--gen-start-scale", type=int, default=0, help="0: most varied; higher keeps the training image's layout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale-v", type=float, default=1.0, help="vertical size factor (0.25-4, needs --gen-start-scale 0)")
    p.add_argument("--scale-h", type=float, default=1.0, help="horizontal size factor (0.25-4, needs --gen-start-scale 0)")
    p.add_argument("--batch-size", type=int, help="samples per forward pass (default: 16 on a GPU, 1 on a CPU, where batches are slower)")
    p.add_argument("--prefix", default="sample_", help="file name prefix")
    p.add_argument("--raw-mask", action="store_true", help="write the mask channel as greyscale instead of thresholding to {0, 255}")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--style-transfer", action="store_true", help="restyle the images after the training image (VGG19, SPEC section 7); masks stay as generated")
    _add_style_options(p, "--style-steps")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("stylize", help="restyle images after a style image (neural style transfer with VGG19)")
    p.add_argument("content", help="an image file, or a folder of images (same-size images are optimised together)")
    p.add_argument("style", help="the style image (resized to each content image's size)")
    p.add_argument("-o", "--output", required=True, help="folder for the restyled images (NAME.png)")
    _add_style_options(p, "--steps")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_stylize)

    p = sub.add_parser("evaluate", help="quality report of a model or a generated dataset")
    p.add_argument("path", metavar="MODEL_DIR|DATASET_DIR", help="a model folder (samples are drawn) or the output folder of generate")
    p.add_argument("--real", nargs=2, metavar=("IMAGE", "MASK"), help="the training pair, when the model folder does not hold it")
    p.add_argument("-o", "--output", help="report folder (default: PATH/report)")
    p.add_argument("-n", "--num-samples", type=int, default=16, help="samples to draw from a model folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the drawn samples (same samples as generate --seed)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("import-reference", help="import a model trained by the reference implementation (Gs.pth, Zs.pth, ...)")
    p.add_argument("src_dir")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--min-size", type=int, default=25, help="min_size the reference model was trained with")
    p.set_defaults(func=cmd_import_reference)

    p = sub.add_parser("info", help="describe a model folder")
    p.add_argument("model_dir")
    p.add_argument("--json", action="store_true", help="print the whole model.json")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("serve", help="run the REST API (embedded: with its database, broker and a worker under --data-dir)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data-dir", help="database, broker and files (default: SINGAN_SEG_DATA_DIR or ./singan-data)")
    p.add_argument("--no-worker", action="store_true", help="API only; workers run elsewhere (`singan-seg worker`)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run a training/generation worker (one per GPU) against SINGAN_SEG_BROKER_URL")
    p.add_argument("--data-dir", help="shared files (default: SINGAN_SEG_DATA_DIR or ./singan-data)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    p.set_defaults(func=cmd_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    from models.checkpoint import CheckpointError
    from models.inputs import InputError
    from models.reference_import import ReferenceImportError

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (CommandError, InputError, CheckpointError, ReferenceImportError, ValueError, RuntimeError, OSError) as exc:
        print(f"singan-seg {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"singan-seg {args.command}: interrupted (finished scales stay saved; resume with --resume)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
