"""Identification (gallery/probe split, CMC) and PSNR/SSIM."""

import numpy as np
import pytest

from eval_helpers import FnEmbedder
from lrfr_tf.eval.identification import IdentificationData, cmc, evaluate_identification
from lrfr_tf.eval.quality import evaluate_restoration, psnr, ssim


def test_cmc_hand_example():
    sims = np.array(
        [
            [0.9, 0.1, 0.2],  # target 0: rank 1
            [0.5, 0.4, 0.6],  # target 1: 0.5 and 0.6 are higher -> rank 3
            [0.3, 0.8, 0.3],  # target 2: only 0.8 is higher -> rank 2 (the tie at 0.3 does not count)
        ]
    )
    np.testing.assert_allclose(cmc(sims, np.array([0, 1, 2]), max_rank=4), [1 / 3, 2 / 3, 1, 1])


def test_split_of_the_sample(sample_dir):
    data = IdentificationData(str(sample_dir / "celeba"))
    assert data.gallery.size == 30 and data.probes.size == 270
    assert np.array_equal(np.sort(data.gallery_labels), np.arange(30))
    assert not set(data.gallery) & set(data.probes)
    assert np.all(data.gallery_labels[data.probe_targets] == data.probe_labels)
    seeded = IdentificationData(str(sample_dir / "celeba"), gallery_seed=7)
    assert np.array_equal(seeded.gallery_labels, data.gallery_labels) and not np.array_equal(seeded.gallery, data.gallery)
    assert np.array_equal(seeded.gallery, IdentificationData(str(sample_dir / "celeba"), gallery_seed=7).gallery)


def test_identification_runs_and_ties_favour_the_probe(sample_dir):
    data = IdentificationData(str(sample_dir / "celeba"))
    blind = FnEmbedder(lambda x: np.ones((len(x), 4)), name="blind")
    r = evaluate_identification(blind, data, [8, 112], progress=False)
    assert r["sizes"]["112"]["rank1"] == 1.0  # every gallery entry ties: ties count for the probe
    noisy = FnEmbedder(lambda x: x.reshape(len(x), -1)[:, ::997], name="pixels")
    r = evaluate_identification(noisy, data, [8, 112], progress=False)
    for s in ("8", "112"):
        c = r["sizes"][s]["cmc"]
        assert len(c) == 20 and all(a <= b for a, b in zip(c, c[1:])) and c[0] == r["sizes"][s]["rank1"]
    assert r["num_probes"] == 270 and r["gallery_size"] == 30


def _numpy_ssim(x, y, max_val=255.0):
    """Wang et al. (2004) SSIM: 11x11 Gaussian window (sigma 1.5), valid region, mean over pixels and channels."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    g /= g.sum()
    w = np.outer(g, g)

    def filt(a):  # valid 2-D correlation per channel
        win = np.lib.stride_tricks.sliding_window_view(a, (11, 11), axis=(0, 1))
        return np.einsum("ijcab,ab->ijc", win, w)

    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    mx, my = filt(x), filt(y)
    vx, vy, cxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.mean()


def test_psnr_ssim_against_numpy():
    rng = np.random.default_rng(0)
    ref = np.cumsum(rng.normal(0, 8, (2, 32, 32, 3)), axis=1) + 128  # smooth-ish images
    ref = np.clip(ref, 0, 255)
    noisy = np.clip(ref + rng.normal(0, 20, ref.shape), 0, 255)
    mse = np.mean((noisy - ref) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(psnr(noisy, ref), 10 * np.log10(255.0**2 / mse), rtol=1e-4)
    np.testing.assert_allclose(ssim(noisy, ref), [_numpy_ssim(n, r) for n, r in zip(noisy, ref)], rtol=1e-3)
    np.testing.assert_allclose(ssim(ref, ref), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(noisy[:1], ref)


def test_evaluate_restoration(sample_dir):
    from lrfr_tf.data.images import load_images

    images = load_images(sorted(str(p) for p in (sample_dir / "celeba").rglob("*.jpg"))[:8], progress=False)
    out = evaluate_restoration(lambda x: x, images, [8, 16])  # identity "restorer" equals its input
    for s in ("8", "16"):
        assert out[s]["psnr"] == pytest.approx(out[s]["input_psnr"]) and out[s]["ssim"] == pytest.approx(out[s]["input_ssim"])
    assert out["8"]["psnr"] < out["16"]["psnr"]
