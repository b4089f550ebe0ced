"""Training, one scale at a time, coarsest first (SPEC section 5)."""

from __future__ import annotations

import contextlib
import hashlib
import math
import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from . import checkpoint
from .config import TrainConfig
from .inputs import TrainingPair, pair_to_tensor, tensor_to_pair_arrays
from .networks import Discriminator, Generator, init_weights, width_at_scale
from .pyramid import Pyramid, build_reals, plan_pyramid
from .singan import SinGANSegModel, draw_noise, pad, run_scales, upscale

REAL_IMAGE_FILE = "real_image.png"
REAL_MASK_FILE = "real_mask.png"


class TrainingCancelled(Exception):
    """Raised when ``should_stop`` asks a run to stop; finished scales stay saved."""


@dataclass(frozen=True)
class TrainProgress:
    scale: int  # 0-based index of the scale being trained
    scales: int
    iteration: int  # iterations finished at this scale
    iterations: int
    fraction: float  # of the whole run's work (scales weighted by their cost)
    elapsed_seconds: float
    eta_seconds: float | None  # None until a rate is known


ProgressFn = Callable[[TrainProgress], None]
StopFn = Callable[[], bool]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA GPU is available")
    return torch.device(name)


def image_fingerprint(x: torch.Tensor) -> str:
    """sha256 of the 4-channel input tensor: a resumed run must train on the same pair."""
    return hashlib.sha256(x.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


# Fixed per-iteration cost (Python, small kernels), in the units below: measured on the
# CPU as ~0.045 s per iteration at the coarsest scales, where the arithmetic is tiny.
ITERATION_OVERHEAD = 2.6e6


def _scale_costs(pyramid: Pyramid, config: TrainConfig) -> list[float]:
    """Relative cost of one iteration per scale: pixels x width^2 (convolution FLOPs) plus a
    fixed overhead, so the fraction and ETA are not skewed by the slow-per-FLOP small scales."""
    return [h * w * width_at_scale(n, config.nfc) ** 2 + ITERATION_OVERHEAD for n, (h, w) in enumerate(pyramid.sizes)]


def gradient_penalty(disc: Discriminator, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """WGAN-GP: (||grad D(x_hat)||_2 - 1)^2 over channels, averaged over pixels."""
    alpha = torch.rand(1, 1, 1, 1, generator=generator, device=real.device)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = disc(x_hat)
    (grads,) = torch.autograd.grad(scores, x_hat, grad_outputs=torch.ones_like(scores), create_graph=True)
    return ((grads.norm(2, dim=1) - 1) ** 2).mean()


@contextlib.contextmanager
def _batchnorm_passes(module: nn.Module, passes: int) -> Iterator[None]:
    """Make one forward pass update BatchNorm running stats as ``passes`` identical passes would."""
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 1.0 - (1.0 - m.momentum) ** passes
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum


def _freeze(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


class _Trainer:
    """State of one run: the pyramid, the frozen scales so far, and progress reporting."""

    def __init__(self, x: torch.Tensor, config: TrainConfig, device: torch.device, progress: ProgressFn | None, should_stop: StopFn | None):
        self.config = config
        self.device = device
        self.pyramid = plan_pyramid(x.shape[2], x.shape[3], config.min_size, config.max_size, config.scale_factor_init)
        self.reals = [r.to(device) for r in build_reals(x, self.pyramid, config.resize_mode)]
        self.generators: list[Generator] = []
        self.z_opts: list[torch.Tensor] = []
        self.noise_amps: list[float] = []
        self.progress = progress
        self.should_stop = should_stop
        costs = _scale_costs(self.pyramid, config)
        self.cost_per_iter = costs
        self.total_cost = sum(costs) * config.niter
        self.started = time.monotonic()
        self.cost_done_at_start = 0.0  # work already in the folder when this run started

    def sizes(self) -> list[tuple[int, int]]:
        return list(self.pyramid.sizes)

    def random_previous(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """A random image from the frozen scales 0..n-1, brought up to scale n: [1, 4, h_n, w_n]."""
        noises = [draw_noise(1, self.pyramid.sizes[k], k == 0, generator, self.device) for k in range(n)]
        out = run_scales(self.generators, self.noise_amps, noises, self.sizes(), self.pyramid.scale_factor, self.config.resize_mode)
        return upscale(out, self.pyramid.sizes[n], self.pyramid.scale_factor, self.config.resize_mode)

    def reconstructed_previous(self, n: int) -> torch.Tensor:
        out = run_scales(self.generators, self.noise_amps, self.z_opts, self.sizes(), self.pyramid.scale_factor, self.config.resize_mode)
        return upscale(out, self.pyramid.sizes[n], self.pyramid.scale_factor, self.config.resize_mode)

    def report(self, n: int, iteration: int, cost_done: float) -> None:
        if self.progress is None:
            return
        elapsed = time.monotonic() - self.started
        done_this_run = cost_done - self.cost_done_at_start
        eta = None
        if done_this_run > 0 and elapsed > 0:
            eta = elapsed / done_this_run * (self.total_cost - cost_done)
        self.progress(
            TrainProgress(
                scale=n,
                scales=self.pyramid.num_scales,
                iteration=iteration,
                iterations=self.config.niter,
                fraction=min(cost_done / self.total_cost, 1.0),
                elapsed_seconds=elapsed,
                eta_seconds=eta,
            )
        )

    def train_scale(self, n: int, gen: Generator, disc: Discriminator, rng: torch.Generator, cost_before: float) -> tuple[torch.Tensor, float, dict]:
        """Train scale n; returns its z_opt [1, 4, h, w], noise amplitude and loss summary."""
        cfg = self.config
        real = self.reals[n]
        size = self.pyramid.sizes[n]
        if n == 0:
            rec_prev = torch.zeros_like(real)
            noise_amp = 1.0
        else:
            rec_prev = self.reconstructed_previous(n)
            noise_amp = cfg.noise_amp_init * math.sqrt(F.mse_loss(real, rec_prev).item())
        rec_prev_p = pad(rec_prev)
        z_opt = torch.zeros_like(real)
        if n == 0:
            z_opt = draw_noise(1, size, True, rng, self.device)

        opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, 0.999))
        opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, 0.999))
        milestones = [cfg.lr_drop_iteration]
        sched_d = torch.optim.lr_scheduler.MultiStepLR(opt_d, milestones=milestones, gamma=cfg.gamma)
        sched_g = torch.optim.lr_scheduler.MultiStepLR(opt_g, milestones=milestones, gamma=cfg.gamma)
        gen.train()
        disc.train()
        losses: dict[str, float] = {}
        for it in range(cfg.niter):
            if self.should_stop is not None and self.should_stop():
                raise TrainingCancelled(f"stopped at scale {n}, iteration {it}")
            if n == 0 and cfg.redraw_z_opt_at_scale0:
                z_opt = draw_noise(1, size, True, rng, self.device)
            noise_p = pad(draw_noise(1, size, n == 0, rng, self.device))

            # (1) D: d_steps WGAN-GP updates, each against a fresh random previous image.
            for j in range(cfg.d_steps):
                disc.zero_grad(set_to_none=True)
                err_real = -disc(real).mean()
                prev = torch.zeros_like(noise_p) if n == 0 else pad(self.random_previous(n, rng))
                # Only the last fake feeds the G update, so only it needs a graph.
                with torch.set_grad_enabled(j == cfg.d_steps - 1):
                    fake = gen(noise_amp * noise_p + prev, prev)
                err_fake = disc(fake.detach()).mean()
                gp = gradient_penalty(disc, real, fake.detach(), rng)
                (err_real + err_fake + cfg.gp_weight * gp).backward()
                opt_d.step()

            # (2) G: adversarial loss on the last fake plus the reconstruction loss.
            gen.zero_grad(set_to_none=True)
            err_g = -disc(fake).mean()
            with _batchnorm_passes(gen, cfg.bn_passes):
                rec = gen(noise_amp * pad(z_opt) + rec_prev_p, rec_prev_p)
            rec_loss = cfg.rec_weight * F.mse_loss(rec, real)
            (err_g + rec_loss).backward()
            opt_g.step()
            sched_d.step()
            sched_g.step()

            losses = {
                "d_loss": (err_real + err_fake + cfg.gp_weight * gp).item(),
                "g_adv_loss": err_g.item(),
                "rec_loss": rec_loss.item(),
            }
            self.report(n, it + 1, cost_before + self.cost_per_iter[n] * (it + 1))
        return z_opt, noise_amp, losses


def _save_real_pair(model_dir: Path, real: torch.Tensor) -> None:
    images, masks = tensor_to_pair_arrays(real)
    Image.fromarray(images[0]).save(model_dir / REAL_IMAGE_FILE)
    Image.fromarray(masks[0]).save(model_dir / REAL_MASK_FILE)


def train(
    pair: TrainingPair,
    config: TrainConfig,
    model_dir: str | Path,
    *,
    resume: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> SinGANSegModel:
    """Train a SinGAN-Seg model on one image/mask pair into ``model_dir``.

    Every finished scale is saved before the next starts. With ``resume`` a folder
    holding finished scales continues after the last one; the same seed and config
    give the same weights as an uninterrupted run, because each scale's random
    stream is seeded from (seed, scale) alone.
    """
    config.validate()
    model_dir = Path(model_dir)
    device = resolve_device(config.device)
    x = pair_to_tensor(pair)
    fingerprint = image_fingerprint(x)
    trainer = _Trainer(x, config, device, progress, should_stop)
    pyramid = trainer.pyramid

    manifest_path = model_dir / checkpoint.MANIFEST
    start_scale = 0
    if manifest_path.exists():
        if not resume:
            raise FileExistsError(f"{model_dir} already holds a model; pass --resume to continue it or choose a new folder")
        manifest = checkpoint.read_manifest(model_dir)
        _check_resumable(manifest, config, fingerprint, model_dir)
        start_scale = len(manifest["scales"])
        for n in range(start_scale):
            state = checkpoint.load_scale(model_dir, manifest, n)
            trainer.generators.append(_freeze(state.generator.to(device)))
            trainer.z_opts.append(state.z_opt.to(device))
            trainer.noise_amps.append(state.noise_amp)
    else:
        model_dir.mkdir(parents=True, exist_ok=True)
        manifest = checkpoint.new_manifest(
            config={k: v for k, v in config.to_dict().items() if k != "device"},
            scale1=pyramid.scale1,
            scale_factor=pyramid.scale_factor,
            sizes=list(pyramid.sizes),
            resize_mode=config.resize_mode,
            provenance={
                "source": "trained",
                "image": pair.image_name,
                "mask": pair.mask_name,
                "input_size": [pair.height, pair.width],
                "input_sha256": fingerprint,
                "foreground_share": pair.foreground_share,
                "torch_version": torch.__version__,
                "python": platform.python_version(),
                "started_at": datetime.now(timezone.utc).isoformat(),
            },
        )
        _save_real_pair(model_dir, trainer.reals[-1])
        checkpoint.write_manifest(model_dir, manifest)

    cost_before = sum(trainer.cost_per_iter[:start_scale]) * config.niter
    trainer.cost_done_at_start = cost_before
    prev_gen: Generator | None = None
    prev_disc: Discriminator | None = None
    if start_scale > 0:
        last = checkpoint.load_scale(model_dir, manifest, start_scale - 1)
        prev_gen, prev_disc = last.generator, last.discriminator
    for n in range(start_scale, pyramid.num_scales):
        width = width_at_scale(n, config.nfc)
        min_width = width_at_scale(n, config.min_nfc)
        init_rng = torch.Generator().manual_seed(_scale_seed(config.seed, n))
        gen, disc = Generator(width, min_width), Discriminator(width, min_width)
        init_weights(gen, init_rng)
        init_weights(disc, init_rng)
        if prev_gen is not None and prev_disc is not None and width_at_scale(n - 1, config.nfc) == width:
            gen.load_state_dict(prev_gen.state_dict())
            disc.load_state_dict(prev_disc.state_dict())
        gen, disc = gen.to(device), disc.to(device)
        rng = torch.Generator(device=device).manual_seed(_scale_seed(config.seed, n))
        started = time.monotonic()
        trainer.report(n, 0, cost_before)
        z_opt, noise_amp, losses = trainer.train_scale(n, gen, disc, rng, cost_before)
        _freeze(gen)
        _freeze(disc)
        checkpoint.save_scale(
            model_dir, manifest, n, gen, z_opt, noise_amp, width, min_width, discriminator=disc,
            extra={"seconds": round(time.monotonic() - started, 3), "device": str(device), **losses},
        )
        trainer.generators.append(gen)
        trainer.z_opts.append(z_opt)
        trainer.noise_amps.append(noise_amp)
        prev_gen, prev_disc = gen, disc
        cost_before += trainer.cost_per_iter[n] * config.niter

    manifest["provenance"]["finished_at"] = datetime.now(timezone.utc).isoformat()
    checkpoint.write_manifest(model_dir, manifest)
    return SinGANSegModel(
        generators=trainer.generators,
        z_opts=trainer.z_opts,
        noise_amps=trainer.noise_amps,
        sizes=list(pyramid.sizes),
        scale_factor=pyramid.scale_factor,
        resize_mode=config.resize_mode,
        metadata=manifest,
    )


def _scale_seed(seed: int, scale: int) -> int:
    return (seed * 1009 + scale) % (2**63)


def _check_resumable(manifest: dict, config: TrainConfig, fingerprint: str, model_dir: Path) -> None:
    saved = dict(manifest["config"])
    wanted = {k: v for k, v in config.to_dict().items() if k != "device"}
    if saved != wanted:
        diff = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
        raise ValueError(f"{model_dir}: cannot resume with different settings ({', '.join(diff)})")
    if manifest["provenance"].get("input_sha256") != fingerprint:
        raise ValueError(f"{model_dir}: cannot resume on a different image/mask pair than the one it was trained on")
