"""Seconds per training iteration at every scale of a preset, and the implied total time.

    python bench/train_step.py [--preset paper] [--iters 3] [--image ... --mask ...] [--device cpu]

Runs a few iterations per scale (not the full run) on the 622x529 Kvasir-SEG polyp,
times each iteration after the first at every scale, and counts the floating-point
operations of one iteration with torch's FLOP counter, to print the FLOP/s achieved.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from models import load_pair, preset, train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "kvasir-seg"
POLYP = "cju0qkwl35piu0993l0dewei2.jpg"  # 622 x 529
REFERENCE_SECONDS_FINEST = 36.7  # reference implementation, this 2-core machine, finest scale
REFERENCE_SECONDS_SUM = 52.9  # summed over the 9 scales


class FlopCount(TorchDispatchMode):
    """Counts FLOPs of the operators torch has formulas for (convolutions and matmuls, forward
    and backward). torch's FlopCounterMode cannot be used: its module hooks break autograd.grad,
    which the gradient penalty needs."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def per_iteration(pair, config, flops: bool) -> dict[int, list[float]]:
    """Seconds (or FLOPs) of each iteration after the first, per scale."""
    marks: dict[int, list[float]] = {}
    counter = FlopCount() if flops else None

    def on_progress(p) -> None:
        value = counter.total if counter else time.perf_counter()
        marks.setdefault(p.scale, []).append(value)

    with tempfile.TemporaryDirectory() as tmp:
        if counter:
            with counter:
                train(pair, config, Path(tmp) / "model", progress=on_progress)
        else:
            train(pair, config, Path(tmp) / "model", progress=on_progress)
    # marks[n][0] is reported before iteration 1, marks[n][k] after iteration k;
    # iteration 1 is left out (warm-up, and the noise amplitude's reconstruction pass).
    return {n: [b - a for a, b in zip(v[1:], v[2:])] for n, v in marks.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--iters", type=int, default=3, help="iterations per scale (the first is not timed)")
    parser.add_argument("--image", default=str(DATA / "images" / POLYP))
    parser.add_argument("--mask", default=str(DATA / "masks" / POLYP))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    pair = load_pair(args.image, args.mask)
    full = preset(args.preset)
    config = preset(args.preset, niter=args.iters, device=args.device)
    print(f"{args.preset} preset on {Path(args.image).name} ({pair.width}x{pair.height}), device {args.device}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    seconds = per_iteration(pair, config, flops=False)
    flops = per_iteration(pair, preset(args.preset, niter=3, device=args.device), flops=True)

    from models.networks import width_at_scale
    from models.pyramid import plan_pyramid

    pyramid = plan_pyramid(pair.height, pair.width, full.min_size, full.max_size, full.scale_factor_init)
    print(f"{'scale':>5} {'size':>9} {'width':>5} {'s/iter':>8} {'GFLOP/iter':>10} {'GFLOP/s':>8}")
    total_per_iter = 0.0
    for n, (h, w) in enumerate(pyramid.sizes):
        s = sorted(seconds[n])[len(seconds[n]) // 2]  # median
        f = flops[n][0] if flops.get(n) else float("nan")
        total_per_iter += s
        print(f"{n:>5} {w:>4}x{h:<4} {width_at_scale(n, full.nfc):>5} {s:>8.3f} {f / 1e9:>10.2f} {f / 1e9 / s:>8.1f}")
    hours = total_per_iter * full.niter / 3600
    finest = sorted(seconds[pyramid.stop_scale])[len(seconds[pyramid.stop_scale]) // 2]
    print(f"sum over scales: {total_per_iter:.2f} s per iteration -> {hours:.2f} h for {full.niter} iterations per scale")
    if args.preset == "paper":
        print(f"reference on this machine: {REFERENCE_SECONDS_FINEST} s/iter at the finest scale, "
              f"{REFERENCE_SECONDS_SUM} s summed (29 h); speed-up {REFERENCE_SECONDS_FINEST / finest:.2f}x finest, "
              f"{REFERENCE_SECONDS_SUM / total_per_iter:.2f}x overall")


if __name__ == "__main__":
    main()
