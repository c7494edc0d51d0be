"""torchrun with 2 CPU processes (gloo): a few steps, then every rank holds the same weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from ganforge.checkpoint import list_checkpoints, load_weights

from .conftest import tiny_config

WORKER = Path(__file__).with_name("ddp_worker.py")


def _torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def ddp_config(tmp_path):
    cfg = tiny_config({"train.kimg": 0.16, "train.batch_size": 16})
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    return path


@pytest.mark.slow
def test_ranks_hold_identical_weights(tmp_path, ddp_config):
    out = tmp_path / "weights"
    out.mkdir()
    proc = _torchrun(str(WORKER), str(ddp_config), str(tmp_path / "run"), str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("G", "D", "G_ema"):
        a, b = load_weights(out / f"rank0-{name}.safetensors"), load_weights(out / f"rank1-{name}.safetensors")
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}.{k} differs between ranks"
    # Rank 0 alone wrote the run folder.
    assert len(list_checkpoints(tmp_path / "run")) >= 1


@pytest.mark.slow
def test_cli_runs_under_torchrun(tmp_path, ddp_config):
    proc = _torchrun("-m", "ganforge.cli", "train", str(ddp_config), "--run-dir", str(tmp_path / "run"), "--quiet",
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpts = list_checkpoints(tmp_path / "run")
    assert ckpts and ckpts[-1].name == "step-0000010"
    # Without --run-dir every process would invent its own folder: refused with one line.
    proc = _torchrun("-m", "ganforge.cli", "train", str(ddp_config), "--quiet", cwd=tmp_path)
    assert proc.returncode != 0 and "pass --run-dir" in proc.stderr
