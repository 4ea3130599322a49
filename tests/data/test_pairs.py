"""LFW pairs files: real View 1 / View 2 counts and malformed files."""

import pytest

from lrfr_tf.data import pairs


def test_view2_has_6000_pairs_in_10_folds_with_3000_same(lfw_dir):
    ps = pairs.read_pairs(str(lfw_dir / "pairs.txt"))
    assert len(ps) == 6000 and sum(p.same for p in ps) == 3000
    for fold in range(10):
        in_fold = [p for p in ps if p.fold == fold]
        assert len(in_fold) == 600 and sum(p.same for p in in_fold) == 300
        assert all(p.same for p in in_fold[:300]) and not any(p.same for p in in_fold[300:])
    assert ps[0] == pairs.Pair(0, "Abel_Pacheco/Abel_Pacheco_0001.jpg", "Abel_Pacheco/Abel_Pacheco_0004.jpg", True)
    pairs.check_pairs_exist(ps, str(lfw_dir / "aligned112"), "pairs.txt")


@pytest.mark.parametrize("name, n", [("pairsDevTrain.txt", 1100), ("pairsDevTest.txt", 500)])
def test_view1_files(lfw_dir, name, n):
    ps = pairs.read_pairs(str(lfw_dir / name))
    assert len(ps) == 2 * n and sum(p.same for p in ps) == n and {p.fold for p in ps} == {0}
    pairs.check_pairs_exist(ps, str(lfw_dir / "aligned112"), name)


def test_embedded_sample_pairs(sample_dir):
    ps = pairs.read_pairs(str(sample_dir / "lfw" / "pairs.txt"))
    assert len(ps) == 200 and sum(p.same for p in ps) == 100 and {p.fold for p in ps} == {0, 1}
    pairs.check_pairs_exist(ps, str(sample_dir / "lfw" / "aligned112"))


def test_short_file_names_the_file_and_the_count(tmp_path):
    f = tmp_path / "short_pairs.txt"
    f.write_text("1\t2\nA\t1\t2\nB\t1\t3\nC\t1\tD\t1\n")
    with pytest.raises(ValueError, match=r"short_pairs\.txt: header '1\\t2' promises 4 pairs .* has 3"):
        pairs.read_pairs(str(f))


@pytest.mark.parametrize("body, problem", [
    ("A\t1\nB\t1\tC\t1\n", r":2: expected 'name i j'"),  # two fields
    ("A\tx\t2\nB\t1\tC\t1\n", r":2: expected 'name i j'"),  # not a number
    ("B\t1\tC\t1\nA\t1\t2\n", r":2: a different-person line where fold 1 expects same"),  # wrong order
])
def test_malformed_lines_are_named(tmp_path, body, problem):
    f = tmp_path / "bad_pairs.txt"
    f.write_text("1\t1\n" + body)
    with pytest.raises(ValueError, match=r"bad_pairs\.txt" + problem):
        pairs.read_pairs(str(f))


def test_bad_header_and_empty_file(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("ten\n")
    with pytest.raises(ValueError, match=r"p\.txt:1: header"):
        pairs.read_pairs(str(f))
    f.write_text("")
    with pytest.raises(ValueError, match=r"p\.txt: empty"):
        pairs.read_pairs(str(f))


def test_pair_naming_a_missing_image_is_named(sample_dir, tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("1\t1\nAbel_Pacheco\t1\t4\nAbel_Pacheco\t1\tNobody_Here\t7\n")
    ps = pairs.read_pairs(str(f))
    with pytest.raises(FileNotFoundError, match=r"pairs\.txt: 1 image\(s\) .* Nobody_Here/Nobody_Here_0007\.jpg"):
        pairs.check_pairs_exist(ps, str(sample_dir / "lfw" / "aligned112"), str(f))
