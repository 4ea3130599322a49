"""Paired (HR, LR) views sharing their geometric augmentation; batch mixing with a degraded mask;
both as map_fn / batch_map_fn of the tf.data pipeline."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.data import degrade, folders, pipeline
from lrfr_tf.data.degrade import BatchMix, PairedViews, parse


def asymmetric_face():
    """Bright left half, dark right half, a gradient top to bottom: flips and crops are visible."""
    y = np.linspace(40, 200, 112, dtype=np.float32)[:, None, None]
    left = np.concatenate([np.full((112, 56, 3), 1.0), np.full((112, 56, 3), 0.3)], axis=1).astype(np.float32)
    return np.clip(y * left, 0, 255)


def is_flipped(image):
    w = image.shape[1] // 2
    return image[:, :w].mean() < image[:, w:].mean()


def test_hr_and_lr_share_the_flip():
    views = PairedViews("resolution(size=11x8)|jpeg(50)", geometric="flip")
    image = asymmetric_face()
    flips = []
    for i in range(30):
        out = views({"image": image, "label": 3}, tf.constant([i, 5], tf.int64))
        hr, lr = out["image"].numpy(), out["lr"].numpy()
        assert hr.shape == lr.shape == (112, 112, 3) and out["label"] == 3
        assert is_flipped(hr) == is_flipped(lr)
        flips.append(is_flipped(hr))
    assert 5 < sum(flips) < 25  # both outcomes happen


def test_lr_is_the_degradation_of_the_augmented_hr_view():
    """The LR view is exactly the degradation of the HR view returned (same crop and flip), and an
    identity degradation gives back the HR view itself."""
    image = asymmetric_face()
    deg = parse("blur(0.5, 1.5)|resolution(low=8, high=24)|gaussian_noise(2)")
    views = PairedViews(deg, geometric="flip|crop(0.6, 0.9)")
    identity = PairedViews("resize()", geometric="flip|crop(0.6, 0.9)", lr_key="lr")
    up = degrade.Degradation(deg.ops + [degrade.Resize()])
    for i in range(6):
        seed = tf.constant([i, 9], tf.int64)
        out = views({"image": image}, seed)
        deg_seed = tf.random.experimental.stateless_split(seed, 2)[1]
        np.testing.assert_array_equal(out["lr"].numpy(), up(out["image"], deg_seed).numpy())
        assert not np.allclose(out["image"].numpy(), image, atol=1.0)  # the crop changed the HR view
        same = identity({"image": image}, seed)
        np.testing.assert_array_equal(same["image"].numpy(), out["image"].numpy())
        np.testing.assert_array_equal(same["lr"].numpy(), same["image"].numpy())


def test_low_size_lr_for_sr_nets():
    image = asymmetric_face()
    out = PairedViews("resolution(size=28)|jpeg(70)", geometric="flip", upsample=False)({"image": image}, 0)
    assert out["lr"].shape == (28, 28, 3) and out["image"].shape == (112, 112, 3)
    with pytest.raises(ValueError, match="fixed LR size"):
        PairedViews("resolution(preset=maug_7_14_20)", upsample=False)({"image": image}, 0)
    upsampled = PairedViews("resolution(preset=maug_7_14_20)")({"image": image}, 0)
    assert upsampled["lr"].shape == (112, 112, 3)


def test_geometric_must_keep_the_size():
    with pytest.raises(ValueError, match="keep the image size"):
        PairedViews("jpeg(50)", geometric="resize(64)")({"image": asymmetric_face()}, 0)
    with pytest.raises(KeyError, match="no 'pixels'"):
        PairedViews("jpeg(50)", key="pixels")({"image": asymmetric_face()}, 0)


def test_map_fn_in_place_and_to_lr():
    image = asymmetric_face()
    deg = parse("maug_7_14_20")
    in_place = deg.map_fn(out_key="image")({"image": image, "label": 1}, 4)
    assert set(in_place) == {"image", "label"}
    to_lr = deg.map_fn()({"image": image, "label": 1}, 4)
    np.testing.assert_array_equal(to_lr["image"].numpy(), image)
    np.testing.assert_array_equal(to_lr["lr"].numpy(), in_place["image"].numpy())


@pytest.mark.parametrize("exact", [True, False])
def test_batch_mix_degrades_a_fraction_and_marks_it(exact):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (16, 16, 16, 3)).astype(np.float32)
    deg = parse("resolution(size=4)|resize()")
    signature = [tf.TensorSpec([16, 16, 16, 3]), tf.TensorSpec([2], tf.int64)]
    mix = tf.function(lambda x, s: BatchMix(deg, fraction=0.5, exact=exact)({"image": x}, s),
                      input_signature=signature)
    full = tf.function(deg.__call__, input_signature=signature)
    counts = []
    for step in range(8):
        seed = tf.constant([step, 1], tf.int64)
        out = mix(images, seed)
        mask = out["degraded"].numpy()
        counts.append(mask.sum())
        mixed = out["image"].numpy()
        np.testing.assert_array_equal(mixed[~mask], images[~mask])
        deg_seed = tf.random.experimental.stateless_split(seed, 2)[1]
        # the whole batch degraded with the same per-sample seeds
        np.testing.assert_array_equal(mixed[mask], full(images, deg_seed).numpy()[mask])
        assert np.all(np.abs(mixed[mask] - images[mask]).mean(axis=(1, 2, 3)) > 1.0)
    if exact:
        assert set(counts) == {8}
    else:
        assert len(set(counts)) > 2


def test_batch_mix_mask_frequencies_and_edge_cases():
    mix = BatchMix("jpeg(50)", fraction=0.3)
    masks = np.stack([mix.mask(100, tf.constant([i, 0], tf.int64)).numpy() for i in range(100)])
    assert set(masks.sum(1)) == {30}
    assert np.all(np.abs(masks.mean(0) - 0.3) < 0.15)  # every position gets picked, not a fixed subset
    bern = BatchMix("jpeg(50)", fraction=0.3, exact=False)
    freq = np.mean([bern.mask(100, tf.constant([i, 0], tf.int64)).numpy().mean() for i in range(100)])
    assert abs(freq - 0.3) < 0.02
    images = np.zeros((8, 16, 16, 3), np.float32)
    assert not BatchMix("jpeg(50)", fraction=0.0)({"image": images}, 0)["degraded"].numpy().any()
    assert BatchMix("jpeg(50)", fraction=1.0)({"image": images}, 0)["degraded"].numpy().all()
    with pytest.raises(ValueError, match="same static size"):
        BatchMix("resolution(size=4)")({"image": images}, 0)
    with pytest.raises(ValueError, match="fraction"):
        BatchMix("jpeg(50)", fraction=1.5)


def test_views_and_mixing_in_the_tf_data_pipeline(sample_dir):
    """PairedViews as map_fn and BatchMix as batch_map_fn of make_dataset: per-element results equal an
    eager recomputation from the decoded file with the pipeline's element seed."""
    folder = folders.IdentityFolder(sample_dir / "celeba")
    views = PairedViews("blur(0.5, 1.5)|resolution(preset=multi_scale)|jpeg(30, 90)", geometric="flip")
    mix = BatchMix("gaussian_noise(5)", fraction=0.5, key="lr")
    ds = pipeline.make_dataset(folder, batch_size=4, seed=7, map_fn=views, batch_map_fn=mix, shuffle=True,
                               repeat=False, verify="none")
    batch = next(iter(ds))
    assert batch["image"].shape == batch["lr"].shape == (4, 112, 112, 3)
    assert batch["degraded"].numpy().sum() == 2
    element_key = pipeline.seed_keys(7)[1]
    for i, index in enumerate(batch["index"].numpy()):
        rgb = cv2.cvtColor(cv2.imread(folder.paths[index]), cv2.COLOR_BGR2RGB).astype(np.float32)
        eager = views({"image": rgb}, pipeline.fold_in(element_key, i))
        np.testing.assert_array_equal(batch["image"][i].numpy(), eager["image"].numpy())
        lr_error = batch["lr"][i].numpy() - eager["lr"].numpy()
        if batch["degraded"][i]:
            assert 4 < lr_error.std() < 5.2  # gaussian_noise(5), clipped at the extremes
        else:
            assert np.abs(lr_error).max() == 0
