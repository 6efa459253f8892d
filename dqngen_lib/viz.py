"""Pictures of canvases, digits and Q-values (lessons 00, 01, 03 and the explorer of lesson 08)."""
from __future__ import annotations

import numpy as np

__all__ = ["canvas_rgb", "show_images"]


def canvas_rgb(image: np.ndarray, scale: int = 8, pen: tuple[int, int] | None = None) -> np.ndarray:
    """An (H, W) image in [0, 1] as an RGB uint8 array, ink dark on white, each pixel ``scale`` wide.

    With ``pen=(row, col)`` that pixel is outlined in red (pen mode).
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise ValueError(f"expected an (H, W) image, got shape {img.shape}")
    grey = np.round(255 * (1.0 - np.clip(img, 0.0, 1.0))).astype(np.uint8)
    rgb = np.repeat(np.repeat(grey, scale, 0), scale, 1)[..., None].repeat(3, axis=2)
    if pen is not None:
        r, c = pen
        y0, x0 = r * scale, c * scale
        red = np.array([220, 30, 30], dtype=np.uint8)
        t = max(1, scale // 8)
        rgb[y0:y0 + t, x0:x0 + scale] = red
        rgb[y0 + scale - t:y0 + scale, x0:x0 + scale] = red
        rgb[y0:y0 + scale, x0:x0 + t] = red
        rgb[y0:y0 + scale, x0 + scale - t:x0 + scale] = red
    return rgb


def show_images(images, titles=None, ncols: int = 10, scale: float = 0.9, suptitle: str | None = None):
    """Draw a grid of (H, W) images in [0, 1] (ink dark on white); returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    images = [np.asarray(getattr(im, "cpu", lambda: im)()) for im in images]
    n = len(images)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, scale * nrows * (1.25 if titles else 1)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
