"""The service layer: results, typed errors and progress reports, no printing."""

from __future__ import annotations

import pytest
import yaml

from ganforge import service
from ganforge.config import config_to_dict
from ganforge.errors import GanforgeError

from .builders import tiny_config


def _preset(tmp_path, overrides=None):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(tiny_config({"train.kimg": 0.096, **(overrides or {})}))))
    return path


@pytest.mark.slow
def test_train_returns_the_run_and_reports_progress(tmp_path, capsys):
    events = []
    result = service.train(_preset(tmp_path), ["train.log_every=2"], run_dir=tmp_path / "run", quiet=True,
                           progress=events.append)
    assert result.run_dir == tmp_path / "run" and result.checkpoint.is_dir() and result.samples.is_file()
    assert result.is_main
    assert events and all(e.stage == "train" and e.unit == "img" and e.total == 96 for e in events)
    assert [e.done for e in events] == sorted(e.done for e in events) and events[-1].done == 96
    assert "loss_d" in events[-1].info
    assert capsys.readouterr().out == ""  # the service never prints


@pytest.mark.slow
def test_resume_refuses_keys_that_change_training(tmp_path):
    service.train(_preset(tmp_path), run_dir=tmp_path / "run", quiet=True)
    with pytest.raises(GanforgeError, match="cannot change on resume"):
        service.train(None, ["train.g_lr=0.1"], resume=tmp_path / "run", quiet=True)
    with pytest.raises(GanforgeError, match="not a run folder"):
        service.train(None, resume=tmp_path / "nowhere", quiet=True)
    with pytest.raises(GanforgeError, match="CONFIG"):
        service.train(None, quiet=True)


def test_generate_refuses_a_bad_output_before_writing(tmp_path):
    with pytest.raises(GanforgeError, match="FILE.png"):
        service.generate("fashion-cgan", n=4, out=tmp_path / "x.jpg")
    assert not list(tmp_path.iterdir())
    events = []
    result = service.generate("fashion-cgan", n=4, out=tmp_path / "g.png", classes="bag", progress=events.append)
    assert result.out.is_file() and result.count == 4 and result.kind == "image"
    assert (events[0].done, events[-1].done) == (0, 4)


def test_describe_and_export_errors(tmp_path):
    d = service.describe("fashion-cgan")
    assert d["task"] == "noise-to-image" and d["pipeline"] == "generation" and d["family"] == "dcgan"
    with pytest.raises(GanforgeError, match="not a run folder"):
        service.export(tmp_path, tmp_path / "out")
    with pytest.raises(GanforgeError, match="no model 'nope'"):
        service.describe("nope")
