"""Degradation ops: every registered op eagerly == tf.function == tf.data; reference checks; camera model."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.data import degrade
from lrfr_tf.data.degrade import OPS, parse


@pytest.fixture(scope="module")
def faces(sample_dir):
    """Four real 112x112 faces, float32 RGB [0, 255]."""
    paths = sorted((sample_dir / "celeba").glob("*/*.jpg"))[:4]
    return np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]).astype(np.float32)


SEEDS = np.array([[0, 1], [7, 3], [123, 456], [-5, 99]], np.int64)


# ----------------------------------------------------------------------------- every registered op

@pytest.mark.parametrize("name", OPS.names())
def test_op_example_parses_to_the_op(name):
    cls = OPS.get(name)
    assert cls.name == name and cls.example, f"op {name!r} needs a class attribute `example` (a spec using it)"
    deg = parse(cls.example)
    assert [op.name for op in deg.ops] == [name]
    assert parse(deg.spec).spec == deg.spec


@pytest.mark.parametrize("name", OPS.names())
def test_op_identical_eager_tf_function_and_tf_data(name, faces):
    deg = parse(OPS.get(name).example)
    eager = [deg(x, s).numpy() for x, s in zip(faces, SEEDS)]
    fn = tf.function(deg.__call__)
    graph = [fn(tf.constant(x), tf.constant(s)).numpy() for x, s in zip(faces, SEEDS)]
    ds = tf.data.Dataset.from_tensor_slices((faces, SEEDS)).map(deg, num_parallel_calls=tf.data.AUTOTUNE)
    piped = [x.numpy() for x in ds]
    for e, g, p in zip(eager, graph, piped):
        assert e.dtype == np.float32 and e.ndim == 3 and e.shape[-1] == 3
        assert e.min() >= 0.0 and e.max() <= 255.0
        np.testing.assert_array_equal(e, g)
        np.testing.assert_array_equal(e, p)
    # deterministic given the seed, and the seed matters for random ops
    np.testing.assert_array_equal(eager[0], deg(faces[0], SEEDS[0]).numpy())


@pytest.mark.parametrize("name", OPS.names())
def test_op_standalone_matches_one_op_degradation(name, faces):
    """An Op called alone == a one-op Degradation given the op's sub-seed."""
    deg = parse(OPS.get(name).example)
    sub_seed = tf.random.experimental.stateless_split(tf.constant(SEEDS[1]), 1)[0]
    np.testing.assert_allclose(deg.ops[0](faces[1], sub_seed).numpy(), deg(faces[1], SEEDS[1]).numpy(), atol=1e-3)


def test_batch_uses_per_sample_seeds(faces):
    deg = parse("blur(0.5, 2)|resolution(sizes=[7, 14, 20])|gaussian_noise(1, 5)|jpeg(30, 90)|resize()")
    batch_seed = tf.constant([3, 4], tf.int64)
    out = deg(faces, batch_seed).numpy()
    seeds = tf.random.experimental.stateless_split(batch_seed, len(faces))
    for i in range(len(faces)):
        np.testing.assert_array_equal(out[i], deg(faces[i], seeds[i]).numpy())
    out_graph = tf.function(deg.__call__)(tf.constant(faces), batch_seed).numpy()
    np.testing.assert_array_equal(out, out_graph)


def test_batch_with_varying_output_size_is_an_error(faces):
    with pytest.raises(ValueError, match="resize"):
        parse("resolution(sizes=[7, 14])")(faces, 0)


def test_dynamic_shapes_inside_tf_function(faces):
    """Unknown image size at trace time (decode_image gives [None, None, 3])."""
    deg = parse("crop(0.8, 1)|blur(1)|resolution(low=8, high=16)|resize()")
    fn = tf.function(deg.__call__, input_signature=[tf.TensorSpec([None, None, 3]), tf.TensorSpec([2], tf.int64)])
    np.testing.assert_allclose(fn(faces[0], SEEDS[0]).numpy(), deg(faces[0], SEEDS[0]).numpy(), atol=1e-3)
    assert fn(faces[0][:100, :90], SEEDS[0]).shape == (100, 90, 3)


# ----------------------------------------------------------------------------- resolution reduction references

def keys_cubic(x, a=-0.5):
    """Keys (1981) cubic convolution kernel."""
    x = np.abs(x)
    return np.where(x < 1, (a + 2) * x**3 - (a + 3) * x**2 + 1,
                    np.where(x < 2, a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a, 0.0))


def cubic_matrix(n_in, n_out, antialias):
    """[n_out, n_in] resampling with pixel centres at i + 0.5; when shrinking with antialias the
    kernel is stretched by n_in / n_out; taps outside the image are dropped and weights renormalised."""
    scale = n_out / n_in
    stretch = max(1.0 / scale, 1.0) if antialias else 1.0
    j = np.arange(n_in) + 0.5
    rows = []
    for i in range(n_out):
        w = keys_cubic((j - (i + 0.5) / scale) / stretch)
        rows.append(w / w.sum())
    return np.array(rows)


def numpy_reduce(image, h, w):
    """Knoche et al.: antialiased bicubic down to h x w, bicubic back up, clip (float64)."""
    H, W, _ = image.shape
    small = np.einsum("ij,jkc,lk->ilc", cubic_matrix(H, h, True), image.astype(np.float64), cubic_matrix(W, w, True))
    up = np.einsum("ij,jkc,lk->ilc", cubic_matrix(h, H, False), small, cubic_matrix(w, W, False))
    return small, np.clip(up, 0, 255)


SIZES = [7, (11, 8), 14, (16, 12), (21, 15), 28, 56]


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_bicubic_antialias_matches_numpy_reference(faces, size):
    """The down step matches an independent NumPy antialiased Keys-cubic resampler to 1e-3 grey levels
    (float32 rounding); the full down+up to 0.25 grey levels max / 0.02 mean: TF's non-antialiased bicubic
    up-sampling tabulates the Keys weights at 1/1024-pixel offsets. (TF's antialiased bicubic equals no
    cv2 interpolation mode.)"""
    h, w = (size, size) if isinstance(size, int) else size
    image = faces[0]
    small_ref, up_ref = numpy_reduce(image, h, w)
    small = parse(f"resolution({h}x{w})")(image, 0).numpy()
    np.testing.assert_allclose(small, np.clip(small_ref, 0, 255), atol=1e-3)
    chain = parse(f"resolution({h}x{w})|resize()")
    for up in (chain(image, 0).numpy(), degrade.Degradation(chain.ops, fuse=False)(image, 0).numpy()):
        assert np.abs(up - up_ref).max() < 0.25
        assert np.abs(up - up_ref).mean() < 0.02


@pytest.mark.parametrize("size", [16, (11, 8), 28, 37], ids=str)
def test_area_kernel_equals_cv2_inter_area(faces, size):
    h, w = (size, size) if isinstance(size, int) else size
    ours = parse(f"resolution({h}x{w}, kernel=area)")(faces[1], 0).numpy()
    ref = cv2.resize(faces[1], (w, h), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(ours, ref, atol=1e-3)


@pytest.mark.parametrize("kernel", degrade.KERNELS)
@pytest.mark.parametrize("size", [7, (11, 8), 20], ids=str)
def test_fused_resolution_then_resize_equals_unfused(faces, kernel, size):
    """The op chain fused (resampling matrices) == unfused (each op a tf.image.resize, exactly what
    tf.image.resize down then up gives)."""
    h, w = (size, size) if isinstance(size, int) else size
    chain = parse(f"resolution({h}x{w}, kernel={kernel})|resize(kernel={kernel})")
    unfused = degrade.Degradation(chain.ops, fuse=False)(faces[2], 5).numpy()
    small = tf.image.resize(faces[2], [h, w], method=kernel, antialias=True)
    np.testing.assert_array_equal(unfused, np.clip(tf.image.resize(small, [112, 112], method=kernel).numpy(), 0, 255))
    np.testing.assert_allclose(chain(faces[2], 5).numpy(), unfused, atol=2e-3)


def test_unfused_fixed_resizes_batch_and_out_size(faces):
    """Fixed-size resizes run unfused on the whole batch: the pixels of each image alone."""
    deg = degrade.Degradation(parse("resolution(size=14)|resize(112x96)").ops, fuse=False)
    assert deg._fixed_resizes(tf.constant(faces)) is not None and repr(deg).endswith("fuse=False)")
    out = deg(faces, 0)
    assert out.shape == (4, 112, 96, 3)
    np.testing.assert_array_equal(out[1].numpy(), deg(faces[1], 0).numpy())
    random = degrade.Degradation(parse("resolution(sizes=[7, 14])|resize()").ops, fuse=False)
    assert random._fixed_resizes(tf.constant(faces)) is None  # sizes drawn per sample: one image at a time
    seed = tf.constant([2, 3], tf.int64)
    per_sample = tf.random.experimental.stateless_split(seed, 4)
    np.testing.assert_array_equal(random(faces, seed)[3].numpy(), random(faces[3], per_sample[3]).numpy())


def test_fused_linear_chain_equals_stage_by_stage(faces):
    """Fusion changes only rounding: crop|blur|resolution|resize as one matrix product per group ==
    every stage applied one after another (no clipping in between)."""
    deg = parse("crop(0.7, 0.9)|blur(0.5, 2)|resolution(low=9, high=30)|resize()")
    seed = tf.constant([11, 12], tf.int64)
    seeds = tf.random.experimental.stateless_split(seed, 4)
    x = tf.constant(faces[3])
    origin = size = degrade.Size.of(x)
    stages = []
    for op, s in zip(deg.ops, seeds):
        stages += op.stages(size, s, origin)
        size = stages[-1].out
    for stage in stages:
        x = degrade.apply_separable(x, *stage.matrices())
    fused = deg(faces[3], seed).numpy()
    np.testing.assert_allclose(fused, np.clip(x.numpy(), 0, 255), atol=2e-3)
    assert len(stages) == 4 and [s.expands for s in stages] == [False, False, False, True]


# ----------------------------------------------------------------------------- geometric ops

def test_flip_probability_and_effect(faces):
    x = faces[0]
    flipped = x[:, ::-1]
    results = [parse("flip(0.5)")(x, i).numpy() for i in range(60)]
    is_flipped = [np.array_equal(r, flipped) for r in results]
    assert all(f or np.array_equal(r, x) for f, r in zip(is_flipped, results))
    assert 15 <= sum(is_flipped) <= 45
    assert not any(np.array_equal(parse("flip(0)")(x, i).numpy(), flipped) for i in range(10))
    assert all(np.array_equal(parse("flip(1)")(x, i).numpy(), flipped) for i in range(10))


def test_flip_horizontal_is_the_one_image_flip(faces):
    """NumPy and TF give the same mirror; the flip op and the training augmentation flip with it."""
    from lrfr_tf.train.method import flip_augment

    mirror = faces[:, :, ::-1]
    np.testing.assert_array_equal(degrade.flip_horizontal(faces), mirror)
    np.testing.assert_array_equal(degrade.flip_horizontal(tf.constant(faces)).numpy(), mirror)
    np.testing.assert_array_equal(degrade.flip_horizontal(faces[0]), mirror[0])
    op = degrade.RandomFlip(0.5)
    decisions = []
    for i in range(40):
        seed = tf.constant([i, 7], tf.int64)
        flipped = bool(op.draw(seed))
        decisions.append(flipped)
        expected = mirror[1] if flipped else faces[1]
        np.testing.assert_array_equal(op(faces[1], seed).numpy(), expected)
        np.testing.assert_array_equal(flip_augment({"image": tf.constant(faces[1])}, seed)["image"].numpy(), expected)
    assert 10 <= sum(decisions) <= 30
    np.testing.assert_array_equal(flip_augment({"image": faces[1]}, seed, enabled=False)["image"], faces[1])


def test_flipped_landmarks_follow_the_image_flip():
    """A landmark drawn into an image lands, after flip_horizontal, where flip_landmarks puts it (with left and
    right swapped), on the image grid and on the half-size heatmap grid RIM's priors use."""
    from lrfr_tf.losses.prior_losses import render_landmark_heatmaps
    from lrfr_tf.train.prior_targets import FLIP_ORDER, flip_landmarks, template_landmarks

    for height, width in ((112, 112), (112, 96)):
        points = np.round(template_landmarks((height, width)))
        image = np.zeros((height, width, 5), np.float32)
        for k, (x, y) in enumerate(points.astype(int)):
            image[y, x, k] = 1.0
        flipped_image = degrade.flip_horizontal(image)
        flipped_points = flip_landmarks(tf.constant(points), width).numpy()
        for k, (x, y) in enumerate(flipped_points):
            assert flipped_image[int(y), int(x), FLIP_ORDER[k]] == 1.0, (k, x, y)
        template = template_landmarks((height, width))
        grid = (height // 2, width // 2)
        heatmaps = render_landmark_heatmaps(template, grid, image_size=(height, width)).numpy()
        mirrored = render_landmark_heatmaps(flip_landmarks(tf.constant(template), width), grid,
                                            image_size=(height, width)).numpy()
        np.testing.assert_allclose(degrade.flip_horizontal(heatmaps)[..., list(FLIP_ORDER)], mirrored, atol=1e-5)


def test_crop_is_a_resized_window():
    """On a ramp image (channel 0 = row, 1 = column) the crop's offset can be read off; the output must
    equal tf.image.resize of that window."""
    n = 64
    yy, xx = np.meshgrid(np.arange(n, dtype=np.float32), np.arange(n, dtype=np.float32), indexing="ij")
    ramp = np.stack([yy, xx, yy + xx], -1) * 2.0
    op = degrade.RandomCrop(0.5, 0.5)
    c = 32
    for seed in range(5):
        out = op(ramp, seed).numpy()
        # bicubic reproduces a linear ramp away from the borders: out[i] = 2 (y0 + (i + 0.5) c / n - 0.5)
        i = n // 2
        y0 = int(round(out[i, i, 0] / 2 - ((i + 0.5) * c / n - 0.5)))
        x0 = int(round(out[i, i, 1] / 2 - ((i + 0.5) * c / n - 0.5)))
        ref = tf.image.resize(ramp[y0:y0 + c, x0:x0 + c], [n, n], method="bicubic").numpy()
        np.testing.assert_allclose(out, np.clip(ref, 0, 255), atol=1e-3)
    np.testing.assert_allclose(parse("crop(1, 1)")(ramp, 0).numpy(), ramp, atol=1e-4)


# ----------------------------------------------------------------------------- camera model

def high_frequency_energy(image):
    """Spectral energy above a quarter of the sampling rate (Hann window against wrap-around edges)."""
    grey = image.mean(-1) - image.mean()
    window = np.outer(np.hanning(grey.shape[0]), np.hanning(grey.shape[1]))
    spectrum = np.abs(np.fft.fft2(grey * window)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(grey.shape[0]), np.fft.fftfreq(grey.shape[1]), indexing="ij")
    return spectrum[np.hypot(fy, fx) > 0.25].sum()


def test_blur_reduces_high_frequencies_monotonically(faces):
    energies = [high_frequency_energy(parse(f"blur({s})")(faces[0], 0).numpy()) for s in (0, 0.5, 1.0, 2.0)]
    np.testing.assert_allclose(parse("blur(0)")(faces[0], 0).numpy(), faces[0], atol=1e-3)
    assert all(a > 2 * b for a, b in zip(energies, energies[1:])), energies


@pytest.mark.parametrize("sigma", [0.8, 1.5, 3.0])
def test_blur_matches_cv2_gaussian_blur_inside(faces, sigma):
    """Away from the borders (renormalised here, reflected in cv2) the PSF equals cv2.GaussianBlur's."""
    ours = parse(f"blur({sigma})")(faces[1], 0).numpy()
    k = 2 * int(np.ceil(6 * sigma)) + 1
    ref = cv2.GaussianBlur(faces[1], (k, k), sigma)
    m = k // 2
    np.testing.assert_allclose(ours[m:-m, m:-m], ref[m:-m, m:-m], atol=2e-3)
    assert abs(ours.mean() - faces[1].mean()) < 0.5  # borders not darkened


@pytest.mark.parametrize("sigma", [2.0, 10.0])
def test_gaussian_noise_std_matches_sigma(sigma):
    grey = np.full((112, 112, 3), 128.0, np.float32)
    diff = parse(f"gaussian_noise({sigma})")(grey, 1).numpy() - 128.0
    assert abs(diff.std() - sigma) < 0.03 * sigma
    assert abs(diff.mean()) < 0.1
    # a range draws sigma per sample
    stds = [(parse("gaussian_noise(1, 10)")(grey, i).numpy() - 128).std() for i in range(20)]
    assert 1 - 0.1 < min(stds) and max(stds) < 10 + 0.3 and max(stds) - min(stds) > 3


@pytest.mark.parametrize("peak", [50.0, 500.0])
def test_poisson_noise_variance_is_shot_noise(peak):
    """Var = x * 255 / peak at grey level x; black stays black (no photons, no noise)."""
    for level in (64.0, 160.0):
        flat = np.full((112, 112, 3), level, np.float32)
        out = parse(f"poisson_noise({peak})")(flat, 2).numpy()
        assert abs(out.mean() - level) < 0.3
        assert abs(out.var() / (level * 255 / peak) - 1) < 0.05
    assert np.all(parse(f"poisson_noise({peak})")(np.zeros((8, 8, 3), np.float32), 0).numpy() == 0)


def test_jpeg_error_decreases_with_quality(faces):
    errors = [np.abs(parse(f"jpeg({q})")(faces[2], 0).numpy() - faces[2]).mean() for q in (5, 20, 40, 60, 80, 95)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    out = parse("jpeg(50)")(faces[2], 0).numpy()
    assert np.array_equal(out, np.round(out))  # decoded 8-bit pixels
    # close to OpenCV's encoder at the same quality (same libjpeg family, 4:2:0)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(faces[2].astype(np.uint8), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 50])
    ref = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32)
    assert np.abs(out - ref).mean() < 1.0


def test_jpeg_quality_range_is_drawn_per_seed(faces):
    deg = parse("jpeg(10, 95)")
    errors = {round(float(np.abs(deg(faces[0], i).numpy() - faces[0]).mean()), 3) for i in range(12)}
    assert len(errors) >= 6


def test_noise_and_jpeg_at_low_resolution_keep_the_size(faces):
    deg = parse("resolution(11x8)|poisson_noise(100)|gaussian_noise(2)|jpeg(50)")
    out = deg(faces[0], 0)
    assert out.shape == (11, 8, 3)
    assert deg.output_hw((112, 112)) == (11, 8)
    assert parse("camera").output_hw((112, 96)) == (112, 96)


def test_non_square_faces_keep_their_size(faces):
    """112x96 (SphereFace) crops through the multi-scale list and the camera model come back at 112x96."""
    face = faces[0][:, 8:104]
    for spec in ("multi_scale", "camera", "crop(0.7, 0.9)|flip|blur(1, 2)|resolution(low=9, high=20, aspect=0.86)"
                 "|resize()"):
        out = parse(spec)(face, 3)
        assert out.shape == (112, 96, 3), spec
        assert np.abs(out.numpy() - face).mean() > 0.5, spec
    small = parse("resolution(21x15)")(face, 0)
    reference = tf.image.resize(face, [21, 15], method="bicubic", antialias=True).numpy()
    np.testing.assert_allclose(small.numpy(), np.clip(reference, 0, 255), atol=1e-3)
