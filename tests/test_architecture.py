"""The architecture's promises: imports in one direction, a training loop that knows no names."""

from __future__ import annotations

import pytest
import ast
import subprocess
import sys
from pathlib import Path


import ganforge
from ganforge.data import DATASETS
from ganforge.losses import LOSSES
from ganforge.models import BACKBONES, MODELS
from ganforge.tasks import TASKS

SRC = Path(ganforge.__file__).parent


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_loading_a_model_does_not_import_the_training_code():
    # The issue's own check, verbatim.
    code = ("import ganforge, sys; ganforge.load('fashion-cgan'); "
            "assert not any(m.startswith('ganforge.training') for m in sys.modules), "
            "sorted(m for m in sys.modules if m.startswith('ganforge.training'))")
    result = _run(code)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_the_check_above_can_fail():
    result = _run("import ganforge, sys, ganforge.training; "
                  "assert not any(m.startswith('ganforge.training') for m in sys.modules)")
    assert result.returncode != 0


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, package: str | None = None) -> set[str]:
    """The ganforge modules a file imports, anywhere in it (lazy imports in functions too),
    except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    if package is None:
        package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for child in node.body for n in ast.walk(child)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ganforge")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("ganforge"):
                found.add(module)
                found |= {f"{module}.{a.name}" for a in node.names}
    return found


def _files(*names: str) -> list[Path]:
    out = []
    for name in names:
        path = SRC / name
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    return out


def _assert_never_imports(files: list[Path], forbidden: tuple[str, ...]) -> None:
    for path in files:
        bad = sorted(m for m in _imports(path) if m.startswith(forbidden))
        assert not bad, f"{_module_name(path)} imports {bad}"


def test_imports_run_one_way_and_config_has_no_cycle_with_the_registries():
    # schema is the bottom: no registry, no config.
    _assert_never_imports(_files("schema"), ("ganforge.data", "ganforge.models", "ganforge.losses", "ganforge.config",
                                              "ganforge.tasks"))
    # The registries never import the config sections or anything above them.
    _assert_never_imports(_files("data", "models", "losses"), ("ganforge.config", "ganforge.tasks", "ganforge.training",
                                                               "ganforge.pipelines", "ganforge.service"))
    # The config sections import registries (one way), never the tasks that dispatch on them.
    _assert_never_imports(_files("config"), ("ganforge.tasks", "ganforge.training", "ganforge.pipelines"))
    # Tasks never import the training code; pipelines neither; training never imports the front ends.
    _assert_never_imports(_files("tasks", "pipelines", "checkpoint", "augment"), ("ganforge.training",
                                                                                  "ganforge.service", "ganforge.cli"))
    _assert_never_imports(_files("training"), ("ganforge.service", "ganforge.cli"))
    # The library never reaches up into a front end: the studio calls the service, not the reverse.
    _assert_never_imports([p for p in SRC.rglob("*.py") if "studio" not in p.relative_to(SRC).parts
                           and p.name != "cli.py"], ("ganforge.studio", "ganforge.cli"))


def test_the_cli_and_the_library_load_without_the_studio_packages():
    """`ganforge --help` and `import ganforge` import no web or queue package (they need not be installed)."""
    result = _run("import sys, ganforge, ganforge.cli, ganforge.service.tools; "
                  "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
                  "('fastapi', 'starlette', 'uvicorn', 'celery', 'redis', 'kombu')); assert not heavy, heavy")
    assert result.returncode == 0, result.stderr


def test_the_import_check_can_fail(tmp_path):
    fake = tmp_path / "probe.py"
    fake.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..tasks import TASKS\n"
                    "def f():\n    from ..config import DataConfig\n")
    found = _imports(fake, package="ganforge.data")
    assert "ganforge.config" in found  # a lazy import counts
    assert not any(m.startswith("ganforge.tasks") for m in found)  # a TYPE_CHECKING import does not


def _string_constants(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_nothing_under_training_names_a_task_family_loss_or_data_set():
    names = set(TASKS.names()) | set(MODELS.names()) | set(BACKBONES.names()) | set(LOSSES.names()) | set(DATASETS.names())
    assert {"noise-to-image", "paired", "dcgan", "hinge", "wgan-gp", "fashion-mnist", "ring8", "unet"} <= names
    for path in sorted((SRC / "training").glob("*.py")):
        found = _string_constants(path) & names
        assert not found, f"training/{path.name} names {sorted(found)}"


def test_every_task_is_complete():
    for name in TASKS:
        task = TASKS.get(name)
        assert task.name == name and task.config.model_fields["task"].default == name
        assert task.pipeline in ganforge.pipelines.PIPELINES
        # Every batch kind a task trains on is one some registered data set yields.
        kinds = {DATASETS.get(n).batch for n in DATASETS.names()}
        assert task.batch_kinds and set(task.batch_kinds) <= kinds, (name, task.batch_kinds, kinds)
