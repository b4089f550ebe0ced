"""One training configuration, with the named presets users pick from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from .resize import ResizeMode

Device = Literal["auto", "cpu", "cuda"]
PRESETS = ("paper", "fast", "smoke")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run computes.

    The generator update: the reference loops it 3 times but zeroes the gradient at
    the start of each pass and steps the optimiser once after the loop, so only the
    last pass's gradient is used, and all 3 passes compute the same thing. We run one
    pass and one step (one G update per iteration, as published), and with
    ``bn_passes=3`` that pass updates the BatchNorm running statistics as the 3
    identical passes do, so the result matches the reference at a third of the cost.
    """

    preset: str = "paper"
    # Pyramid (SPEC section 2)
    min_size: int = 25
    max_size: int = 250
    scale_factor_init: float = 0.75
    # Optimisation (SPEC section 5)
    niter: int = 2000
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    beta1: float = 0.5
    lr_drop_fraction: float = 0.8  # learning rates x gamma after this share of niter (1600 of 2000)
    gamma: float = 0.1
    d_steps: int = 3
    bn_passes: int = 3  # BatchNorm running-stat updates the G step stands for (see above)
    rec_weight: float = 10.0  # alpha
    gp_weight: float = 0.1  # lambda_grad
    noise_amp_init: float = 0.1
    # Networks (SPEC section 3)
    nfc: int = 32
    min_nfc: int = 32
    # Reference quirk: redraw z_opt at scale 0 every iteration and keep the last one.
    redraw_z_opt_at_scale0: bool = True
    resize_mode: ResizeMode = "float"
    # Run
    seed: int = 0
    device: Device = "auto"

    @property
    def lr_drop_iteration(self) -> int:
        return int(round(self.niter * self.lr_drop_fraction))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        problems = []
        if self.preset not in PRESETS:
            problems.append(f"preset must be one of {', '.join(PRESETS)}")
        if self.niter < 1:
            problems.append("niter must be at least 1")
        if not 10 <= self.min_size < self.max_size:
            problems.append("need 10 <= min_size < max_size")
        if self.max_size > 1024:
            problems.append("max_size must be at most 1024")
        if not 0.3 <= self.scale_factor_init < 1:
            problems.append("scale_factor_init must be in [0.3, 1)")
        if self.d_steps < 1 or self.bn_passes < 1:
            problems.append("d_steps and bn_passes must be at least 1")
        if self.device not in ("auto", "cpu", "cuda"):
            problems.append("device must be auto, cpu or cuda")
        if not 0 <= self.seed < 2**63:
            problems.append("seed must be between 0 and 2**63 - 1")
        if self.resize_mode not in ("float", "reference"):
            problems.append("resize_mode must be float or reference")
        if problems:
            raise ValueError("invalid training settings: " + "; ".join(problems))


def preset(name: str, **overrides: Any) -> TrainConfig:
    """The named preset with optional overrides.

    - ``paper``: SPEC defaults (2000 iterations per scale, long side 250 px).
    - ``fast``: long side 128 px and 200 iterations per scale; a usable model in
      minutes on a 2-core CPU (see README for the measured time).
    - ``smoke``: long side 48 px and 12 iterations per scale; seconds, for tests.
    """
    base = {
        "paper": TrainConfig(preset="paper"),
        "fast": TrainConfig(preset="fast", max_size=128, niter=200),
        "smoke": TrainConfig(preset="smoke", max_size=48, niter=12),
    }
    if name not in base:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    config = replace(base[name], **overrides)
    config.validate()
    return config
