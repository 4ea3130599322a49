"""benchmarks/logexp_weight.py: the checkpoint it restores is the step asked for, alone."""

import pytest

from benchmarks import logexp_weight


def test_checkpoint_copy_keeps_only_the_step_and_makes_it_the_latest(tmp_path):
    src = tmp_path / "work" / "checkpoints"
    src.mkdir(parents=True)
    for step in (100, 200):
        (src / f"ckpt-{step}.index").write_text(str(step))
        (src / f"ckpt-{step}.data-00000-of-00001").write_text(str(step))
    (src / "replicas.json").write_text('{"replicas": 1}')
    (src / "checkpoint").write_text('model_checkpoint_path: "ckpt-200"\n')
    logexp_weight.checkpoint_copy(str(tmp_path / "work"), 100, str(tmp_path / "copy"))
    copied = sorted(p.name for p in (tmp_path / "copy" / "checkpoints").iterdir())
    assert copied == ["checkpoint", "ckpt-100.data-00000-of-00001", "ckpt-100.index", "replicas.json"]
    assert 'model_checkpoint_path: "ckpt-100"' in (tmp_path / "copy" / "checkpoints" / "checkpoint").read_text()
    with pytest.raises(FileNotFoundError, match="step 300"):
        logexp_weight.checkpoint_copy(str(tmp_path / "work"), 300, str(tmp_path / "copy2"))


def test_missing_workdir_is_one_line_and_exit_2(tmp_path, capsys):
    assert logexp_weight.main([f"--workdir={tmp_path / 'nope'}"]) == 2
    assert "no checkpoints/ folder" in capsys.readouterr().err
