"""Pair verification on the embedded LFW sample: protocol semantics, cache, chance level, bad input."""

import shutil

import numpy as np
import pytest

from eval_helpers import FnEmbedder, content_random
from lrfr_tf.eval import protocols as P
from lrfr_tf.eval.cache import EmbeddingCache
from lrfr_tf.eval.degradation import ResolutionDegradation
from lrfr_tf.eval.lfw import PairsData, evaluate_protocol, evaluate_verification


def pixel_embedder(name="pixels"):
    """Mean colour of a 4x4 grid: cheap, deterministic and sensitive to resolution."""
    return FnEmbedder(lambda x: x.reshape(len(x), 4, 28, 4, 28, 3).mean(axis=(2, 4)).reshape(len(x), -1), name=name)


@pytest.fixture(scope="module")
def sample(sample_dir):
    return PairsData(str(sample_dir / "lfw"))


def test_sample_data(sample):
    assert sample.num_pairs == 200 and len(sample.image_set) == 317
    assert sample.labels.sum() == 100 and set(sample.folds.tolist()) == {0, 1}
    d = sample.describe()
    assert len(d["pairs_sha256"]) == 64 and len(d["images_sha256"]) == 64


def test_cr_flips_degrade_each_image_in_turn(sample):
    emb = pixel_embedder()
    result, scores = evaluate_protocol(emb, sample, P.cross_resolution(sample.num_pairs, 8), ResolutionDegradation(), EmbeddingCache(), False)
    images = sample.image_set.images(False).astype(np.float32)
    i1, i2 = images[sample.idx1[:10]], images[sample.idx2[:10]]
    low = lambda x: ResolutionDegradation()(x, 8)  # noqa: E731
    flip1 = np.sum(emb.embed(i1) * emb.embed(low(i2)), 1)  # second image degraded
    flip2 = np.sum(emb.embed(low(i1)) * emb.embed(i2), 1)  # first image degraded
    np.testing.assert_allclose(scores[0, :10], flip1, atol=1e-5)
    np.testing.assert_allclose(scores[1, :10], flip2, atol=1e-5)
    assert result["accuracy"] == pytest.approx(np.mean([f["accuracy"] for f in result["flips"]]))
    assert len(result["fold_accuracies"]) == 2


def test_cache_embeds_every_input_once(sample):
    emb, cache = pixel_embedder(), EmbeddingCache()
    protocols = [P.hr_protocol(200)] + P.sweep(200, [8, 112])
    results, _ = evaluate_verification(emb, sample, protocols, cache=cache, progress=False)
    # 317 images at full resolution (hr, cr_112, er_112, the HR side of cr_8) + 317 at 8 px.
    assert emb.rows_embedded == 634 == cache.misses
    assert cache.hits > 0
    assert results["cr_112"]["accuracy"] == results["er_112"]["accuracy"] == results["hr"]["accuracy"]
    evaluate_verification(emb, sample, protocols, cache=cache, progress=False)
    assert emb.rows_embedded == 634  # a second run embeds nothing


def test_cache_persists_to_disk(sample, tmp_path):
    cache = EmbeddingCache(str(tmp_path))
    evaluate_verification(pixel_embedder(), sample, P.sweep(200, [8], ["er"]), cache=cache, progress=False)
    cache.save()
    emb2, cache2 = pixel_embedder(), EmbeddingCache(str(tmp_path))
    evaluate_verification(emb2, sample, P.sweep(200, [8], ["er"]), cache=cache2, progress=False)
    assert emb2.rows_embedded == 0 and cache2.misses == 0
    other = FnEmbedder(lambda x: x.reshape(len(x), -1)[:, :16], name="other")  # another fingerprint: no hits
    evaluate_verification(other, sample, P.sweep(200, [8], ["er"]), cache=cache2, progress=False)
    assert other.rows_embedded == 317


def test_degradation_kernel_is_part_of_the_cache_key(sample):
    emb, cache = pixel_embedder(), EmbeddingCache()
    protocols = P.sweep(200, [8], ["er"])
    _, a = evaluate_verification(emb, sample, protocols, ResolutionDegradation("bicubic"), cache, False)
    _, b = evaluate_verification(emb, sample, protocols, ResolutionDegradation("area"), cache, False)
    assert emb.rows_embedded == 2 * 317  # the area-degraded inputs are not served from the bicubic entries
    assert not np.allclose(a["er_8"], b["er_8"])


def test_random_embedder_is_at_chance(sample):
    results, _ = evaluate_verification(FnEmbedder(content_random), sample, [P.hr_protocol(200)], progress=False)
    assert 0.4 <= results["hr"]["accuracy"] <= 0.6  # 200 pairs: chance +- 2.5 standard errors
    assert 0.4 <= results["hr"]["auc"] <= 0.6


def test_missing_image_is_named(sample_dir, tmp_path):
    root = tmp_path / "lfw"
    shutil.copytree(sample_dir / "lfw", root)
    (root / "aligned112" / "Abel_Pacheco" / "Abel_Pacheco_0004.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"pairs\.txt: 1 image\(s\) are missing under .*aligned112: Abel_Pacheco/Abel_Pacheco_0004\.jpg"):
        PairsData(str(root))


def test_pairs_file_of_wrong_length(sample_dir, tmp_path):
    root = tmp_path / "lfw"
    shutil.copytree(sample_dir / "lfw", root)
    lines = (root / "pairs.txt").read_text().splitlines()
    (root / "pairs.txt").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"pairs\.txt: header .* promises 200 pairs .* but the file has 199 pair lines"):
        PairsData(str(root))


def test_protocol_of_wrong_length(sample):
    bad = P.from_sizes("short", np.full(398, 8))
    with pytest.raises(ValueError, match=r"protocol short: sizes for 199 pairs, but .*pairs\.txt has 200"):
        evaluate_protocol(pixel_embedder(), sample, bad, ResolutionDegradation(), EmbeddingCache(), False)


def test_nan_embeddings_name_the_files(sample):
    def nan_at_8px(x):  # degraded inputs are smooth: flag low-variance images
        out = x.reshape(len(x), -1)[:, :8].astype(np.float64)
        out[x.std(axis=(1, 2, 3)) < 0.45] = np.nan
        return out

    with pytest.raises(ValueError, match=r"non-finite \(NaN/inf\) embeddings .* at bicubic-aa-bicubic-5; files: .*aligned112/"):
        evaluate_verification(FnEmbedder(nan_at_8px, name="nan"), sample, P.sweep(200, [5], ["er"]), progress=False)


def test_periodic_evaluator_for_training(sample_dir):
    from eval_helpers import tiny_model

    from lrfr_tf.eval import VerificationEvaluator
    from lrfr_tf.preprocessing import ARCFACE

    evaluator = VerificationEvaluator(str(sample_dir / "lfw"), sizes=(8,), modes=("cr", "er"))
    model = tiny_model()
    model.preprocessing = ARCFACE
    first = evaluator(model)
    assert set(first) == {"lfw/acc_hr", "lfw/acc_cr_8", "lfw/acc_er_8"}
    assert all(0.0 <= v <= 1.0 for v in first.values())
    assert evaluator(model) == first  # deterministic
    dense = model.layers[-1]
    dense.kernel.assign(np.random.default_rng(0).normal(size=dense.kernel.shape))
    assert evaluator(model) != first  # new weights are re-embedded, not served from a cache
