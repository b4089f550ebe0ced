"""The report's charts, drawn with PIL (no plotting library): one bar-chart routine, two uses."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 36, 56
BAR = (70, 110, 180)
FLAGGED = (200, 50, 40)
MARK = (230, 140, 0)
INK = (30, 30, 30)
HISTOGRAM_BINS = 20


def bar_chart(
    heights: np.ndarray,
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_ticks: list[tuple[float, str]],
    y_max: float,
    colours: list[tuple[int, int, int]] | None = None,
    hline: tuple[float, str] | None = None,
    vline: tuple[float, str] | None = None,
) -> Image.Image:
    """Bars i = 0..n-1 over x in [0, n]; ticks and ``vline`` are x positions in that range,
    ``hline`` a y value. Each line comes with its legend text."""
    font = ImageFont.load_default(size=12)
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP  # plot box; y grows downwards
    n = len(heights)

    def px(x: float) -> float:
        return x0 + (x1 - x0) * x / max(n, 1)

    def py(y: float) -> float:
        return y0 - (y0 - y1) * min(y, y_max) / y_max

    for i, h in enumerate(heights):
        if h > 0:
            draw.rectangle([px(i) + 1, py(h), px(i + 1) - 1, y0], fill=(colours[i] if colours else BAR))
    draw.line([x0, y1, x0, y0, x1, y0], fill=INK)
    for x, label in x_ticks:
        draw.line([px(x), y0, px(x), y0 + 4], fill=INK)
        draw.text((px(x), y0 + 6), label, fill=INK, font=font, anchor="ma")
    for y in (0.0, y_max / 2, y_max):
        draw.line([x0 - 4, py(y), x0, py(y)], fill=INK)
        draw.text((x0 - 6, py(y)), f"{y:.3g}", fill=INK, font=font, anchor="rm")
    if hline is not None:
        draw.line([x0, py(hline[0]), x1, py(hline[0])], fill=MARK, width=2)
        draw.text((x1, py(hline[0]) - 3), hline[1], fill=MARK, font=font, anchor="rd")
    if vline is not None:
        draw.line([px(vline[0]), y0, px(vline[0]), y1], fill=MARK, width=2)
        draw.text((px(vline[0]) + 4, y1 + 2), vline[1], fill=MARK, font=font, anchor="la")
    draw.text((WIDTH / 2, 8), title, fill=INK, font=font, anchor="ma")
    draw.text(((x0 + x1) / 2, HEIGHT - 18), x_label, fill=INK, font=font, anchor="ma")
    draw.text((6, TOP - 18), y_label, fill=INK, font=font, anchor="la")
    return img


def foreground_histogram(shares: np.ndarray, real_share: float) -> Image.Image:
    """Histogram of the synthetic masks' foreground share, the real mask's share marked."""
    top = max(float(np.max(shares)), real_share, 1e-3) * 1.2
    top = min(1.0, math.ceil(top * 20) / 20)  # up to the next 5 %
    counts, _ = np.histogram(np.clip(shares, 0.0, top), bins=HISTOGRAM_BINS, range=(0.0, top))
    ticks = [(HISTOGRAM_BINS * f, f"{100 * top * f:.3g}%") for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
    return bar_chart(
        counts,
        title=f"Mask foreground share of {len(shares)} synthetic masks",
        x_label="foreground share",
        y_label="masks",
        x_ticks=ticks,
        y_max=max(1, int(counts.max())),
        vline=(HISTOGRAM_BINS * real_share / top, f"real {real_share:.1%}"),
    )


def memorisation_chart(distances: np.ndarray, near_copy: np.ndarray, threshold: float) -> Image.Image:
    """One bar per sample: its distance to the training image or its mirror, whichever is nearer."""
    n = len(distances)
    step = max(1, math.ceil(n / 10))
    return bar_chart(
        distances,
        title="Distance of each synthetic image to the training image (red: near-copy)",
        x_label="sample",
        y_label="distance",
        x_ticks=[(i + 0.5, str(i)) for i in range(0, n, step)],
        y_max=max(float(np.max(distances)) * 1.1, threshold * 1.5),
        colours=[FLAGGED if flag else BAR for flag in near_copy],
        hline=(threshold, f"near-copy threshold {threshold:g}"),
    )
