"""Samples per second when generating 64 samples from a paper-size model (9 scales, 213x250).

    python bench/generate.py [--samples 64] [--batch-sizes 1 8 16 32] [--device cpu]

Generation cost does not depend on the trained weight values, so the model is built with
freshly initialised generators of the paper preset's shapes for the 622x529 polyp.
"""

from __future__ import annotations

import argparse
import time

import torch

from models import plan_pyramid, preset
from models.generate import generate
from models.networks import Generator, init_weights, width_at_scale
from models.singan import SinGANSegModel

REFERENCE_SECONDS_PER_SAMPLE = 0.71  # reference implementation on this 2-core machine


def paper_size_model(device: str, resize_mode: str) -> SinGANSegModel:
    config = preset("paper")
    pyramid = plan_pyramid(529, 622, config.min_size, config.max_size, config.scale_factor_init)
    rng = torch.Generator().manual_seed(0)
    generators = []
    for n in range(pyramid.num_scales):
        gen = Generator(width_at_scale(n), width_at_scale(n))
        init_weights(gen, rng)
        generators.append(gen.eval())
    z_opts = [torch.zeros(1, 4, h, w) for h, w in pyramid.sizes]
    amps = [1.0] + [0.05] * (pyramid.num_scales - 1)
    model = SinGANSegModel(generators, z_opts, amps, list(pyramid.sizes), pyramid.scale_factor, resize_mode)
    return model.to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16, 32])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"{args.samples} samples, paper-size model (9 scales, 213x250), device {args.device}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'resize':>9} {'batch':>5} {'seconds':>8} {'samples/s':>9} {'s/sample':>8}")
    for mode in ("float", "reference"):
        model = paper_size_model(args.device, mode)
        generate(model, 2, seed=0)  # warm-up: allocator, resize matrices
        for batch in args.batch_sizes:
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            generate(model, args.samples, seed=0, batch_size=batch)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            print(f"{mode:>9} {batch:>5} {seconds:>8.2f} {args.samples / seconds:>9.2f} {seconds / args.samples:>8.3f}")
    print(f"reference implementation on this machine: {REFERENCE_SECONDS_PER_SAMPLE} s per sample")


if __name__ == "__main__":
    main()
