"""Shared test fixtures: where the real data lives, and a small trained model."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA = SHARED / "data"
FIXTURES = SHARED / "fixtures"
KVASIR = DATA / "kvasir-seg"
POLYP = "cju0qkwl35piu0993l0dewei2.jpg"  # 622 x 529


def kvasir_pair(name: str = POLYP) -> tuple[Path, Path]:
    return KVASIR / "images" / name, KVASIR / "masks" / name


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert DATA.is_dir(), f"real test data missing: {DATA} (the repo expects ../shared beside it)"
    return DATA


@pytest.fixture(scope="session")
def smoke_model_dir(tmp_path_factory, shared_data) -> Path:
    """A smoke-preset model trained once per session on a real Kvasir-SEG polyp."""
    from models import load_pair, preset, train

    model_dir = tmp_path_factory.mktemp("smoke-model") / "model"
    train(load_pair(*kvasir_pair()), preset("smoke", seed=3), model_dir)
    return model_dir
