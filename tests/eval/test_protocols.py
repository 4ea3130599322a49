"""Resolution protocols: the published files, the CSV format, generated protocols, CLI tokens."""

import numpy as np
import pytest

from lrfr_tf.eval import protocols as P
from lrfr_tf.eval.runner import parse_protocols

RANGES = {"low_res_focus": (5, 10), "mid_res_focus": (11, 39), "high_res_focus": (40, 112), "avg_sizes": (5, 112)}


@pytest.mark.parametrize("stem", sorted(P.PUBLISHED))
def test_published_protocol_files(lfw_dir, stem):
    values = P.read_protocol(P.published_protocol_path(lfw_dir / "protocols", stem), num_pairs=6000)
    assert values.shape == (12000,) and values.dtype == np.int32
    pairs = values.reshape(-1, 2)
    assert np.all(pairs[:, 0] == 112)  # first image of each pair stays at full resolution
    lo, hi = RANGES[stem]
    assert pairs[:, 1].min() >= lo and pairs[:, 1].max() <= hi
    assert pairs[:, 1].min() == lo  # the whole range is used


def test_read_protocol_errors_name_the_file(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("112,5,112,6\n")
    with pytest.raises(ValueError, match=r"p\.csv: 4 sizes but the pairs file has 3 pairs"):
        P.read_protocol(str(f), num_pairs=3)
    f.write_text("112,5,112\n")
    with pytest.raises(ValueError, match=r"p\.csv: 3 sizes is odd"):
        P.read_protocol(str(f))
    f.write_text("112,5,112,x\n")
    with pytest.raises(ValueError, match=r"p\.csv: protocol values must be integers, got 'x'"):
        P.read_protocol(str(f))
    f.write_text("112,5\n112,6\n")
    with pytest.raises(ValueError, match="found 2 lines"):
        P.read_protocol(str(f))
    f.write_text("112,0\n")
    with pytest.raises(ValueError, match="positive"):
        P.read_protocol(str(f))


def test_generated_protocol_is_reproducible_and_in_published_format(tmp_path):
    a = P.generate_protocol(500, 7, 20, seed=4)
    assert np.array_equal(a, P.generate_protocol(500, 7, 20, seed=4))
    assert not np.array_equal(a, P.generate_protocol(500, 7, 20, seed=5))
    assert np.all(a[0::2] == 112) and a[1::2].min() == 7 and a[1::2].max() == 20
    path = tmp_path / "mine.csv"
    P.write_protocol(str(path), a)
    assert path.read_text().count("\n") == 1
    assert np.array_equal(P.read_protocol(str(path), 500), a)


def test_flips():
    p = P.from_sizes("x", np.array([112, 5, 112, 9]))
    (a1, a2), (b1, b2) = p.flips
    assert a1.tolist() == [112, 112] and a2.tolist() == [5, 9]
    assert b1.tolist() == [5, 9] and b2.tolist() == [112, 112]  # the second image's size applied to the first
    (c1, c2), (d1, d2) = P.cross_resolution(2, 8).flips
    assert c1.tolist() == [P.HR, P.HR] and c2.tolist() == [8, 8] and d1.tolist() == [8, 8] and d2.tolist() == [P.HR, P.HR]
    ((e1, e2),) = P.equal_resolution(2, 8).flips
    assert e1.tolist() == e2.tolist() == [8, 8]


def test_parse_protocol_tokens(lfw_dir, tmp_path):
    ps = parse_protocols(["sweep", "published", "random:5-10:3"], 6000, [5, 112], str(lfw_dir / "protocols"), str(tmp_path))
    assert [p.name for p in ps] == ["hr", "low_res", "mid_res", "high_res", "all_res", "random_5-10_seed3", "cr_5", "cr_112", "er_5", "er_112"]
    assert (tmp_path / "protocols" / "random_5-10_seed3.csv").exists()
    ps2 = parse_protocols([str(tmp_path / "protocols" / "random_5-10_seed3.csv"), "all_res"], 6000, [], str(lfw_dir / "protocols"))
    assert [p.name for p in ps2] == ["hr", "random_5-10_seed3", "all_res"]
    assert np.array_equal(ps2[1].flips[0][1], ps[5].flips[0][1])
    with pytest.raises(ValueError, match="unknown protocol 'bogus'"):
        parse_protocols(["bogus"], 10, [8], None)
    with pytest.raises(ValueError, match="requested twice"):
        parse_protocols(["all_res", "avg_sizes"], 6000, [], str(lfw_dir / "protocols"))
    with pytest.raises(ValueError, match=r"low_res_focus\.csv: 12000 sizes but the pairs file has 200 pairs"):
        parse_protocols(["low_res_focus"], 200, [], str(lfw_dir / "protocols"))
