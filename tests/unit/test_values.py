"""fastreboot.values' run-time twin behaves like the standard library's dataclasses, for
what fastreboot uses. Every test runs against both, so a difference shows as one failing
side."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from fastreboot import values

API = ("dataclass", "field", "replace", "asdict", "FrozenInstanceError")


def _kit(name: str, source: object, prefix: str = "") -> SimpleNamespace:
    """The API under test, from the standard library or from the twin (private names)."""
    return SimpleNamespace(name=name, **{what: getattr(source, prefix + what) for what in API})


STDLIB = _kit("dataclasses", dataclasses)
TWIN = _kit("values", values, prefix="_")


@pytest.fixture(params=[STDLIB, TWIN], ids=lambda kit: kit.name)
def kit(request: pytest.FixtureRequest) -> Any:
    return request.param


def classes(kit: Any) -> tuple[Any, Any]:
    @kit.dataclass(frozen=True)
    class Point:
        x: int
        y: int = 0
        tags: tuple[str, ...] = ()
        notes: list[str] = kit.field(default_factory=list)

        def total(self) -> int:
            return self.x + self.y

    @kit.dataclass
    class Bag:
        items: list[int] = kit.field(default_factory=list)
        origin: Point | None = None

    return Point, Bag


def test_construction_defaults_and_fresh_factories(kit: Any) -> None:
    point_cls, bag_cls = classes(kit)
    p = point_cls(1)
    assert (p.x, p.y, p.tags, p.notes, p.total()) == (1, 0, (), [], 1)
    assert point_cls(1, 2, ("a",)).tags == ("a",)
    assert point_cls(x=3, y=4).total() == 7
    a, b = bag_cls(), bag_cls()
    a.items.append(1)
    assert b.items == []
    a.origin = p  # not frozen
    assert a.origin is p


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), ((1,), {"z": 2}), ((1,), {"x": 2}), ((1, 2, (), [], 5), {})],
    ids=["missing", "unexpected", "twice", "too-many"],
)
def test_wrong_arguments_are_type_errors(
    kit: Any, args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    point_cls, _ = classes(kit)
    with pytest.raises(TypeError):
        point_cls(*args, **kwargs)


def test_equality_hash_and_repr(kit: Any) -> None:
    point_cls, bag_cls = classes(kit)
    p, q = point_cls(1, 2, ("t",)), point_cls(1, 2, ("t",))
    assert p == q and p is not q and p != point_cls(1, 3)
    assert p != (1, 2, ("t",), [])  # another type is never equal
    assert repr(p).endswith("Point(x=1, y=2, tags=('t',), notes=[])")
    assert bag_cls([1]) == bag_cls([1])
    assert repr(bag_cls()).endswith("Bag(items=[], origin=None)")
    with pytest.raises(TypeError):
        hash(bag_cls())  # mutable and compared by value
    with pytest.raises(TypeError):
        hash(point_cls(1))  # frozen, but holds a list

    @kit.dataclass(frozen=True)
    class Key:
        a: int
        b: tuple[str, ...] = ()

    key: Any = Key  # the kit's decorator is untyped here
    assert hash(key(1, ("x",))) == hash(key(1, ("x",))) == hash((1, ("x",)))
    assert {key(1), key(1), key(2)} == {key(1), key(2)}


def test_frozen_fields_cannot_change(kit: Any) -> None:
    point_cls, _ = classes(kit)
    p = point_cls(1)
    with pytest.raises(kit.FrozenInstanceError):
        p.x = 2
    with pytest.raises(kit.FrozenInstanceError):
        del p.y
    with pytest.raises(AttributeError):  # both are AttributeErrors
        p.x = 3
    assert p.x == 1


def test_replace_and_asdict(kit: Any) -> None:
    point_cls, bag_cls = classes(kit)
    p = point_cls(1, 2, ("a",), ["n"])
    moved = kit.replace(p, y=5)
    assert (moved.x, moved.y, moved.tags, p.y) == (1, 5, ("a",), 2)
    with pytest.raises(TypeError):
        kit.replace(p, z=1)
    bag = bag_cls([1, 2], p)
    as_dict = kit.asdict(bag)
    assert as_dict == {"items": [1, 2], "origin": {"x": 1, "y": 2, "tags": ("a",), "notes": ["n"]}}
    as_dict["items"].append(3)
    as_dict["origin"]["notes"].append("m")
    assert bag.items == [1, 2] and p.notes == ["n"]  # copies, not the values themselves
    with pytest.raises(TypeError):
        kit.asdict(object())


def test_class_definitions_that_dataclasses_refuse(kit: Any) -> None:
    with pytest.raises(ValueError, match="mutable default"):

        @kit.dataclass(frozen=True)
        class Shared:
            items: list[int] = []  # noqa: RUF012

    with pytest.raises(TypeError, match="non-default argument"):

        @kit.dataclass
        class Order:
            a: int = 0
            b: int


def test_class_variables_and_inherited_fields(kit: Any) -> None:
    @kit.dataclass(frozen=True)
    class Base:
        kind: ClassVar[str] = "base"
        a: int

    @kit.dataclass(frozen=True)
    class Child(Base):
        b: int = 2

    make: Any = Child  # the kit's decorator is untyped here
    child = make(1)
    assert (child.a, child.b, Child.kind) == (1, 2, "base")
    assert kit.asdict(child) == {"a": 1, "b": 2}


def test_the_twin_is_what_runs_and_refuses_post_init() -> None:
    assert values.dataclass is values._dataclass
    assert values.replace is values._replace
    with pytest.raises(TypeError, match="__post_init__"):

        @values._dataclass
        class Checked:
            a: int

            def __post_init__(self) -> None:
                pass


def test_no_command_imports_dataclasses() -> None:
    """The point of the twin: `fastreboot reboot`'s modules leave dataclasses (and the
    inspect, ast and dis it imports) alone."""
    code = (
        "import sys; import fastreboot.cli, fastreboot.commands, fastreboot.actions, "
        "fastreboot.records, fastreboot.status, fastreboot.kdump, fastreboot.grub, "
        "fastreboot.bls, fastreboot.shellvars; print(*sys.modules, file=sys.stderr)"
    )
    env = {"PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert {"dataclasses", "inspect", "ast", "dis"}.isdisjoint(result.stderr.split())
