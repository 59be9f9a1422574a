"""The package's shape: imports go one way through the stages, and nothing imports in a circle.

The stages, lowest first (ARCHITECTURE.md): the foundation (errors, sysroot), config
(reading the distributions' files), boot (boot entries), plan (plan, checks, facts),
act (effects and everything that changes the machine), cli (the command line). A module
may import its own stage and the stages below it, never one above.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from fastreboot.act.effects import Effects
from tests.unit.fakes import RecordingEffects

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "fastreboot"
STAGES = ("config", "boot", "plan", "act", "cli")
FOUNDATION = {"fastreboot", "fastreboot.errors", "fastreboot.sysroot"}
# Where the effects layer lives: nothing pure (config, boot, plan) may import it.
EFFECTS = {"fastreboot.act.effects", "fastreboot.act.syscalls", "fastreboot.act.run"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The fastreboot modules ``name`` imports (type-checking imports included)."""
    tree = ast.parse(MODULES[name].read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return {module for module in found if module in MODULES and module != name}


def _rank(name: str) -> int:
    if name in FOUNDATION or name == "fastreboot.__main__":
        return 0 if name != "fastreboot.__main__" else len(STAGES) + 1
    stage = name.split(".")[1]
    return STAGES.index(stage) + 1


def test_every_module_belongs_to_a_stage() -> None:
    for name in MODULES:
        assert name in FOUNDATION or name == "fastreboot.__main__" or name.split(".")[1] in STAGES


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_one_way(name: str) -> None:
    upward = {other for other in _imports(name) if _rank(other) > _rank(name)}
    assert not upward, f"{name} imports a later stage: {sorted(upward)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _rank(n) <= STAGES.index("plan") + 1))
def test_nothing_pure_imports_the_effects_layer(name: str) -> None:
    assert not _imports(name) & EFFECTS


def test_no_import_cycle() -> None:
    graph = {name: _imports(name) for name in MODULES}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            pytest.fail("import cycle: " + " -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for other in sorted(graph[name]):
            visit(other, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())


def test_the_recording_fake_is_an_effects() -> None:
    fake = RecordingEffects(Path("/nonexistent"))
    assert isinstance(fake, Effects)
    members = [
        name
        for name, value in vars(Effects).items()
        if callable(value) and not name.startswith("_")
    ]
    assert members
    for name in members:
        wanted = inspect.signature(getattr(Effects, name))
        assert inspect.signature(getattr(RecordingEffects, name)) == wanted, name
