"""pipelines/base.py: named artifacts saved beside the weights and config.json, and read back.

An artifact (a fitted column transform of a table model, say) is bytes or JSON under a name that
is never a path; config.json lists each with its digest, so a load notices a changed or missing
file, and an export without artifacts is what it was before artifacts existed.
"""

from __future__ import annotations

import json

import pytest

import ganforge
from ganforge.errors import GanforgeError
from ganforge.pipelines import EnhancePipeline

from ..builders import tiny_enhance_config


def tiny_pipeline() -> EnhancePipeline:
    cfg = tiny_enhance_config("upscale")
    return EnhancePipeline(cfg.model.build("generator"), cfg)


def test_artifacts_round_trip_as_bytes_and_json(tmp_path):
    pipe = tiny_pipeline()
    transform = {"columns": ["age", "diagnosis"], "modes": [[0.5, 1.5], None]}
    pipe.set_artifact("transform.json", transform)
    pipe.set_artifact("codes.bin", bytes(range(256)))
    out = pipe.save_pretrained(tmp_path / "model")
    listed = json.loads((out / "config.json").read_text())["artifacts"]
    assert sorted(listed) == ["codes.bin", "transform.json"] and listed["codes.bin"]["bytes"] == 256
    assert (out / "artifacts" / "codes.bin").read_bytes() == bytes(range(256))

    again = ganforge.load(out)
    assert again.artifact("transform.json") == transform
    assert again.artifact("codes.bin") == bytes(range(256))
    with pytest.raises(GanforgeError, match=r"^this model has no artifact 'scaler.json' \(it has: codes.bin, "
                                            r"transform.json\)$"):
        again.artifact("scaler.json")


def test_an_export_without_artifacts_has_no_trace_of_them(tmp_path):
    out = tiny_pipeline().save_pretrained(tmp_path / "model")
    assert "artifacts" not in json.loads((out / "config.json").read_text())
    assert not (out / "artifacts").exists()
    assert ganforge.load(out).artifacts == {}


@pytest.mark.parametrize("name", ["../escape.json", "a/b.json", "Upper.json", "x.py", ".hidden.json", "x" * 70 + ".bin"])
def test_artifact_names_are_never_paths(name):
    with pytest.raises(GanforgeError, match="^artifact name .* is not allowed"):
        tiny_pipeline().set_artifact(name, b"x")


def test_non_json_artifacts_need_bytes():
    with pytest.raises(GanforgeError, match="needs bytes"):
        tiny_pipeline().set_artifact("table.csv", {"a": 1})


def test_a_changed_or_missing_artifact_is_refused_at_load(tmp_path):
    pipe = tiny_pipeline()
    pipe.set_artifact("transform.json", {"a": 1})
    out = pipe.save_pretrained(tmp_path / "model")
    (out / "artifacts" / "transform.json").write_text('{"a": 2}\n')
    with pytest.raises(GanforgeError, match="does not match the digest"):
        ganforge.load(out)
    (out / "artifacts" / "transform.json").unlink()
    with pytest.raises(GanforgeError, match="lists artifact 'transform.json' but it cannot be read"):
        ganforge.load(out)


def test_a_config_listing_a_path_as_an_artifact_is_refused_before_any_file_is_read(tmp_path):
    out = tiny_pipeline().save_pretrained(tmp_path / "model")
    info = json.loads((out / "config.json").read_text())
    info["artifacts"] = {"../../etc/passwd": {"bytes": 1, "sha256": "0" * 64}}
    (out / "config.json").write_text(json.dumps(info))
    with pytest.raises(GanforgeError, match="lists a bad artifact"):
        ganforge.load(out)
