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


def _module_name(path: Path, root: Path = SRC) -> str:
    """``root/a/b.py`` -> ``<root's name>.a.b``; a package's ``__init__.py`` is the package."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(root: Path = SRC) -> dict[str, Path]:
    """Every module of the package at ``root``: name -> file."""
    return {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _import_lines(path: Path, package: str | None = None, modules: set[str] | frozenset[str] = frozenset(),
                  root_name: str = "ganforge") -> dict[str, int]:
    """The modules of ``root_name`` a file imports, anywhere in it (lazy imports in functions and
    methods too), each with the line of its first import; imports under ``if TYPE_CHECKING:``
    are left out (they never run).

    ``package``: the package the file is in (what ``from . import`` means). A name is resolved
    against ``modules``: ``from .a import b`` is the module ``a.b`` when there is one, else ``a``
    (a package means its ``__init__.py``). Importing ``p.q.m`` first runs ``p/__init__.py`` and
    ``p/q/__init__.py``, so those count as imported too, except the packages the file itself is in
    (they are already being imported when it runs)."""
    tree = ast.parse(path.read_text())
    if package is None:
        package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    own = package.split(".")
    own_packages = {".".join(own[:i]) for i in range(1, len(own) + 1)}
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for child in node.body for n in ast.walk(child)}
    found: dict[str, int] = {}

    def add(module: str, line: int) -> None:
        parts = module.split(".")
        if parts[0] != root_name:
            return
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if i == len(parts) or name not in own_packages:
                found.setdefault(name, line)

    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = own[: len(own) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module, node.lineno)
    return found


def _imports(path: Path, package: str | None = None) -> set[str]:
    """The ganforge modules a file imports (see :func:`_import_lines`)."""
    return set(_import_lines(path, package, frozenset(_modules())))


def import_graph(root: Path = SRC) -> dict[str, dict[str, int]]:
    """The package at ``root`` as a graph: module -> {module it imports: line of the import}."""
    files = _modules(root)
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = _import_lines(path, package, frozenset(files), root_name=root.name)
        graph[name] = {m: line for m, line in edges.items() if m in files}
    return graph


def import_cycles(graph: dict[str, dict[str, int]]) -> list[frozenset[str]]:
    """The strongly connected components of ``graph`` with more than one module, and every module
    that imports itself: each is one or more import cycles (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, {}):
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _one_cycle(graph: dict[str, dict[str, int]], component: frozenset[str]) -> str:
    """One import path round ``component``, with the line of each import: ``a:12 -> b:3 -> a``."""
    start = min(component)
    came_from: dict[str, str] = {}
    queue = [start]
    while queue:  # breadth first, inside the component, back to start
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                path, node = [start], v
                while node != start:
                    path.append(node)
                    node = came_from[node]
                path = [start] + path[:0:-1] + [start]
                return " -> ".join(f"{a}:{graph[a][b]}" for a, b in zip(path, path[1:])) + f" -> {start}"
            if w in component and w not in came_from:
                came_from[w] = v
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")


def cycle_problems(graph: dict[str, dict[str, int]], known: set[frozenset[str]]) -> list[str]:
    """Every import cycle not in ``known`` (its modules and one path round it), and every entry
    of ``known`` that is no longer a cycle exactly as listed."""
    cycles = import_cycles(graph)
    problems = [f"import cycle among {sorted(c)}: {_one_cycle(graph, c)}" for c in cycles if c not in known]
    problems += [f"KNOWN_CYCLES lists {sorted(c)}, which is no longer a cycle as listed: update the list"
                 for c in known if c not in cycles]
    return problems


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


# Import cycles tolerated for now: each entry one strongly connected component, exactly. The test
# fails on any other cycle, and on an entry that is no longer a cycle exactly as listed, so this
# set can only shrink. It is empty: every cycle the review and this test found is fixed; keep it so.
KNOWN_CYCLES: set[frozenset[str]] = set()


def test_no_import_cycles():
    """No module imports itself, directly or round a cycle, not even in a function (a lazy
    import): a cycle says a shared piece belongs a layer further down."""
    problems = cycle_problems(import_graph(), KNOWN_CYCLES)
    assert not problems, "\n".join(problems)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_cycle_check_can_fail(tmp_path):
    # Two modules that import each other only inside functions.
    pkg = _tree(tmp_path / "pkg", {"__init__.py": "", "a.py": "def f():\n    from . import b\n",
                                   "b.py": "class B:\n    def g(self):\n        from .a import f\n",
                                   "c.py": "from .a import f\n"})
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.b": 2} and graph["pkg.b"] == {"pkg.a": 3}
    assert import_cycles(graph) == [frozenset({"pkg.a", "pkg.b"})]
    problems = cycle_problems(graph, set())
    assert len(problems) == 1 and "pkg.a:2 -> pkg.b:3 -> pkg.a" in problems[0], problems
    assert cycle_problems(graph, {frozenset({"pkg.a", "pkg.b"})}) == []  # a known cycle passes
    # A known cycle that is gone, or only part of one, fails: the list can only shrink.
    stale = cycle_problems(import_graph(_tree(tmp_path / "ok", {"__init__.py": "", "a.py": "", "b.py": ""})),
                           {frozenset({"ok.a", "ok.b"})})
    assert len(stale) == 1 and "no longer a cycle" in stale[0]
    assert len(cycle_problems(graph, {frozenset({"pkg.a", "pkg.b", "pkg.c"})})) == 2


def test_the_cycle_check_sees_packages_self_imports_and_skips_type_checking(tmp_path):
    # A package whose __init__ imports a module that imports from the package: a cycle.
    reg = _tree(tmp_path / "reg", {"__init__.py": "REGISTRY = {}\nfrom . import fam\n",
                                   "fam.py": "from . import REGISTRY\n"})
    assert import_cycles(import_graph(reg)) == [frozenset({"reg", "reg.fam"})]
    # Importing a.sub.x from outside runs a/__init__.py first: here that closes a cycle.
    up = _tree(tmp_path / "up", {"__init__.py": "", "low.py": "def f():\n    from .high.tool import run\n",
                                 "high/__init__.py": "from .api import go\n", "high/api.py": "from ..low import f\n",
                                 "high/tool.py": ""})
    graph = import_graph(up)
    assert graph["up.low"] == {"up.high.tool": 2, "up.high": 2}
    assert import_cycles(graph) == [frozenset({"up.low", "up.high", "up.high.api"})]
    # A module importing itself; and an import that only a type checker sees is no edge.
    me = _tree(tmp_path / "me", {"__init__.py": "", "m.py": "import me.m\n",
                                 "t.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .u import U\n",
                                 "u.py": "from .t import T\n"})
    assert import_cycles(import_graph(me)) == [frozenset({"me.m"})]
    assert "import cycle among ['me.m']: me.m:1 -> me.m" in cycle_problems(import_graph(me), set())[0]


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
