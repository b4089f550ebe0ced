"""uint8 pictures as float tensors in [0, 1], the form style transfer and the quality metrics compute on."""

from __future__ import annotations

import numpy as np
import torch


def unit_tensor(images: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[N, H, W, 3] uint8 -> [N, 3, H, W] in [0, 1]. Copies: inputs may be read-only views."""
    return torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).to(dtype) / 255.0
