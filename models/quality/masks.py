"""Masks: foreground share, connected components, uncertain pixels, empty and full masks.

SPEC section 8: the paper looks at the distribution of the synthetic masks' foreground
share against the real one. Components tell a lesion split into fragments from one
blob; uncertain pixels tell how much of the mask the 0.5 threshold had to decide.
"""

from __future__ import annotations

import numpy as np

# Raw mask values (mapped to [0, 1]) in this open band count as uncertain: the
# generator's tanh output sits far from both classes there, so thresholding decided.
UNCERTAIN_LOW = 0.25
UNCERTAIN_HIGH = 0.75


def foreground_shares(masks: np.ndarray) -> np.ndarray:
    """[N, H, W] masks (nonzero = foreground) -> [N] share of foreground pixels."""
    return (np.asarray(masks) > 0).reshape(len(masks), -1).mean(axis=1)


def count_components(mask: np.ndarray) -> int:
    """Number of 8-connected foreground components of a [H, W] mask.

    Union-find over horizontal runs: a run joins every run of the row above that
    overlaps it or touches it diagonally.
    """
    parent: list[int] = []

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    above: list[tuple[int, int, int]] = []  # (start, stop, run id) of the previous row
    for row in np.asarray(mask) > 0:
        edges = np.flatnonzero(np.diff(np.concatenate(([False], row, [False])).astype(np.int8)))
        runs = []
        k = 0
        for start, stop in zip(edges[0::2].tolist(), edges[1::2].tolist()):
            run_id = len(parent)
            parent.append(run_id)
            # Runs above that end before this one's left diagonal can touch no later run either.
            while k < len(above) and above[k][1] < start:
                k += 1
            j = k
            while j < len(above) and above[j][0] <= stop:
                root_a, root_b = find(above[j][2]), find(run_id)
                parent[max(root_a, root_b)] = min(root_a, root_b)
                j += 1
            runs.append((start, stop, run_id))
        above = runs
    return sum(1 for i in range(len(parent)) if find(i) == i)


def uncertain_shares(raw_masks: np.ndarray) -> np.ndarray:
    """[N, H, W] raw mask values in [0, 1] -> [N] share in the uncertain band."""
    raw = np.asarray(raw_masks)
    return ((raw > UNCERTAIN_LOW) & (raw < UNCERTAIN_HIGH)).reshape(len(raw), -1).mean(axis=1)
