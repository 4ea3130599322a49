"""Resolution samplers: frequencies over 10,000 per-sample draws, range bounds, presets, per-sample use."""

import math

import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.data import degrade
from lrfr_tf.data.degrade import SIZE_PRESETS, make_sampler, parse

DRAWS = 10_000


def draw(sampler, n=DRAWS, seed=0):
    """n draws, each with its own per-sample seed, inside tf.data -> int array [n, 2] of (h, w)."""
    seeds = tf.random.experimental.stateless_split(tf.constant([seed, 17], tf.int64), n)
    ds = tf.data.Dataset.from_tensor_slices(seeds).map(sampler).batch(n)
    return next(iter(ds)).numpy()


def frequencies(hw, sizes):
    return np.array([np.mean(np.all(hw == np.array(s), axis=1)) for s in sizes])


@pytest.mark.parametrize("preset, expected", [
    ("octaves_7_112", {(r, r): 0.2 for r in (7, 14, 28, 56, 112)}),
    ("maug_7_14_20", {(7, 7): 0.25, (14, 14): 0.25, (20, 20): 0.5}),
    ("multi_scale", {hw: 0.1 for hw in [(7, 6), (11, 8), (14, 12), (16, 12), (16, 14), (16, 16), (18, 16),
                                        (21, 15), (32, 32), (112, 96)]}),
])
def test_preset_frequencies_within_two_points(preset, expected):
    hw = draw(make_sampler(preset=preset))
    freq = frequencies(hw, list(expected))
    assert freq.sum() == pytest.approx(1.0)  # nothing outside the list
    np.testing.assert_allclose(freq, list(expected.values()), atol=0.02)


def test_discrete_probabilities_are_normalised_ratios():
    hw = draw(make_sampler(sizes=[8, (16, 12), 24], probs=[3, 1, 0]))
    np.testing.assert_allclose(frequencies(hw, [(8, 8), (16, 12), (24, 24)]), [0.75, 0.25, 0.0], atol=0.02)
    assert frequencies(hw, [(24, 24)])[0] == 0.0


def test_uniform_range_covers_its_bounds():
    hw = draw(make_sampler(low=7, high=32))
    sides = hw[:, 0]
    np.testing.assert_array_equal(hw[:, 0], hw[:, 1])
    assert sides.min() == 7 and sides.max() == 32
    freq = np.bincount(sides, minlength=33)[7:33] / DRAWS
    np.testing.assert_allclose(freq, 1 / 26, atol=0.02)


def test_log_uniform_range_favours_small_sizes():
    hw = draw(make_sampler(low=7, high=32, log=True))
    sides = hw[:, 0]
    assert sides.min() == 7 and sides.max() == 32
    expected = np.array([math.log((k + 1) / k) for k in range(7, 33)]) / math.log(33 / 7)
    np.testing.assert_allclose(np.bincount(sides, minlength=33)[7:33] / DRAWS, expected, atol=0.02)
    assert sides.mean() < 19.5 - 1  # the uniform mean is 19.5


def test_range_aspect_gives_non_square_sizes():
    hw = draw(make_sampler(low=10, high=40, aspect=96 / 112), n=500)
    np.testing.assert_array_equal(hw[:, 1], np.maximum(1, np.round(hw[:, 0] * 96 / 112)))


def test_fixed_size_and_fixed_hw():
    assert make_sampler(size=(11, 8)).fixed_hw == (11, 8)
    np.testing.assert_array_equal(draw(make_sampler(size=14), n=10), np.full((10, 2), 14))
    assert make_sampler(sizes=[7, 7]).fixed_hw == (7, 7)
    assert make_sampler(low=9, high=9).fixed_hw == (9, 9)
    assert make_sampler(preset="maug_7_14_20").fixed_hw is None
    assert make_sampler(low=7, high=9).fixed_hw is None


def test_sampling_is_per_sample_not_per_batch():
    """A batch of copies of one image gets several different sizes (one draw per sample)."""
    image = np.random.default_rng(0).uniform(0, 255, (28, 28, 3)).astype(np.float32)
    out = parse("resolution(preset=maug_7_14_20)|resize()")(np.stack([image] * 12), tf.constant([1, 2], tf.int64)).numpy()
    assert len({o.tobytes() for o in out}) == 3  # maug has 3 sizes


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one"),
    ({"size": 7, "sizes": [7]}, "exactly one"),
    ({"sizes": []}, "non-empty"),
    ({"sizes": [7, 0]}, "positive"),
    ({"sizes": [7, (7, 8, 9)]}, "pair"),
    ({"sizes": [7, 14], "probs": [1]}, "one per size"),
    ({"sizes": [7, 14], "probs": [1, -1]}, "non-negative"),
    ({"size": 7, "probs": [1]}, "probs= needs sizes="),
    ({"low": 7}, "both low= and high="),
    ({"low": 9, "high": 7}, "must be >= low"),
    ({"low": 0, "high": 7}, "positive int"),
    ({"low": 7, "high": 9, "aspect": 0}, "aspect"),
    ({"size": 7, "log": True}, "range only"),
    ({"preset": "nope"}, "unknown size preset"),
])
def test_sampler_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_sampler(**kwargs)


def test_presets_are_documented_sizes():
    assert set(SIZE_PRESETS) == {"octaves_7_112", "maug_7_14_20", "multi_scale"}
    assert make_sampler(preset="multi_scale").sizes[-1] == (112, 96)
    assert isinstance(make_sampler(preset="maug_7_14_20"), degrade.DiscreteSizes)
