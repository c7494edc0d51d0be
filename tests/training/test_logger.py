"""RunLogger: plain progress lines carry the latest periodic-evaluation FID; log.jsonl gets every entry."""

from __future__ import annotations

import json

from ganforge.training.logger import RunLogger


def test_plain_progress_shows_latest_fid(tmp_path, capsys):
    log = RunLogger(tmp_path, total_images=1000, start_images=0, quiet=False)
    log.record({"step": 1, "images": 100, "loss_d": 1.0, "loss_g": 2.0})
    log.record({"event": "eval", "step": 1, "kimg": 0.1, "metrics": {"fid": 12.5, "kid_mean": 0.01}})
    log.record({"step": 2, "images": 200, "loss_d": 1.0, "loss_g": 2.0})
    log.close()
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("kimg")]
    assert len(lines) == 2 and "fid" not in lines[0] and "fid 12.500" in lines[1]
    assert "kid" not in lines[1]
    entries = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [e.get("event") for e in entries] == [None, "eval", None]


def test_quiet_prints_nothing(tmp_path, capsys):
    log = RunLogger(tmp_path, total_images=1000, start_images=0, quiet=True)
    log.record({"event": "eval", "step": 1, "kimg": 0.1, "metrics": {"fid": 1.0}})
    log.record({"step": 2, "images": 200, "loss_d": 1.0, "loss_g": 2.0})
    log.close()
    assert capsys.readouterr().err == ""
