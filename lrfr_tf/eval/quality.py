"""Image quality of restored (super-resolved) faces against the full-resolution image.

PSNR and SSIM are TensorFlow's ``tf.image.psnr`` / ``tf.image.ssim`` on [0, 255]
images (``max_val=255``; SSIM with TF's defaults: 11x11 Gaussian window,
sigma 1.5, k1 0.01, k2 0.03, computed per channel and averaged).
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

import numpy as np

from lrfr_tf.eval.degradation import ResolutionDegradation


def _pair(restored, reference):
    import tensorflow as tf

    restored = tf.convert_to_tensor(restored, tf.float32)
    reference = tf.convert_to_tensor(reference, tf.float32)
    if restored.shape != reference.shape:
        raise ValueError(f"restored images {restored.shape} and reference images {reference.shape} differ in shape")
    return restored, reference


def psnr(restored, reference, max_val: float = 255.0) -> np.ndarray:
    """Per-image PSNR in dB, images [N, H, W, C] in [0, max_val]."""
    import tensorflow as tf

    return tf.image.psnr(*_pair(restored, reference), max_val=max_val).numpy()


def ssim(restored, reference, max_val: float = 255.0) -> np.ndarray:
    """Per-image SSIM, images [N, H, W, C] in [0, max_val]."""
    import tensorflow as tf

    return tf.image.ssim(*_pair(restored, reference), max_val=max_val).numpy()


def evaluate_restoration(
    restore: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    sizes: Sequence[int],
    degradation: Optional[ResolutionDegradation] = None,
    batch_size: int = 64,
) -> Dict[str, Dict[str, float]]:
    """Mean PSNR/SSIM of ``restore(degraded)`` and of the degraded input itself, per size.

    ``restore`` maps float32 [B, H, W, 3] degraded images (already up-sampled
    back to H x W, in [0, 255]) to restored images of the same shape; the
    ``input_*`` figures are the degradation's own up-sampling baseline.
    """
    degradation = degradation or ResolutionDegradation()
    images = np.asarray(images, np.float32)
    out = {}
    for size in sizes:
        sums = {"psnr": 0.0, "ssim": 0.0, "input_psnr": 0.0, "input_ssim": 0.0}
        for start in range(0, images.shape[0], batch_size):
            hr = images[start : start + batch_size]
            low = degradation(hr, int(size))
            restored = np.clip(np.asarray(restore(low), np.float32), 0.0, 255.0)
            sums["psnr"] += float(np.sum(psnr(restored, hr)))
            sums["ssim"] += float(np.sum(ssim(restored, hr)))
            sums["input_psnr"] += float(np.sum(psnr(low, hr)))
            sums["input_ssim"] += float(np.sum(ssim(low, hr)))
        out[str(int(size))] = {k: v / images.shape[0] for k, v in sums.items()}
    return out
