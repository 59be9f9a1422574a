"""Value classes: ``dataclasses`` for the type checker, a lighter twin at run time.

Every fastreboot run starts a Python interpreter, and ``fastreboot reboot`` does so inside
the downtime window (the auto-load unit's re-check, during the shutdown). The standard
library's dataclasses module imports inspect (with ast, dis and tokenize), then writes
every class's ``__init__``, ``__eq__``, ``__hash__``, ``__repr__`` and frozen
``__setattr__`` as source text and compiles each with ``exec()``. In the TCG test guest
``fastreboot plan`` took 0.51 s with dataclasses and takes 0.33 s with this module
(medians, bench.downtime's guest timings, 2026-12-01). Here all classes share the same generic
methods, driven by each class's tuple of field names: nothing is compiled. An instance
costs ~0.4 µs more to create than a dataclass's on the host.

mypy sees the real ``dataclasses`` API (the ``TYPE_CHECKING`` branch), so every class is
type-checked as a dataclass. tests/unit/test_values.py holds the twin to the standard
library's behaviour for what fastreboot uses: positional and keyword construction,
defaults and default factories, equality, hashing of frozen classes, repr, immutability,
``replace`` and ``asdict``. Not supported (and refused, so nothing differs silently):
``__post_init__``, and options other than ``frozen``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; typing is not imported at run time (start-up cost)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_SPEC = "__value_spec__"
_MISSING: Any = object()


class _FrozenInstanceError(AttributeError):
    """Assigning to (or deleting) a field of a frozen value."""


class _Field:
    __slots__ = ("default", "default_factory")

    def __init__(self, default: object, default_factory: Callable[[], object] | None) -> None:
        self.default = default
        self.default_factory = default_factory


def _field(*, default: Any = _MISSING, default_factory: Any = None) -> Any:
    if default is not _MISSING and default_factory is not None:
        raise ValueError("cannot specify both default and default_factory")
    return _Field(default, default_factory)


class _Spec:
    __slots__ = ("defaults", "factories", "name_set", "names")

    def __init__(
        self,
        names: tuple[str, ...],
        defaults: dict[str, object],
        factories: dict[str, Callable[[], object]],
    ) -> None:
        self.names = names
        self.name_set = frozenset(names)
        self.defaults = defaults
        self.factories = factories


def _spec(value: object) -> _Spec | None:
    spec: _Spec | None = getattr(type(value), _SPEC, None)
    return spec


def _is_class_var(annotation: object) -> bool:
    # Annotations are strings here (from __future__ import annotations in every module).
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _init(self: object, *args: object, **kwargs: object) -> None:
    spec: _Spec = getattr(self, _SPEC)
    names = spec.names
    if len(args) > len(names):
        raise TypeError(
            f"{type(self).__qualname__}.__init__() takes {len(names) + 1} positional arguments"
            f" but {len(args) + 1} were given"
        )
    given = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in spec.name_set or key in given:
            problem = "multiple values for" if key in given else "an unexpected keyword"
            raise TypeError(f"{type(self).__qualname__}.__init__() got {problem} argument {key!r}")
        given[key] = value
    if len(given) < len(names):
        for name in names:
            if name in given:
                continue
            if name in spec.defaults:
                given[name] = spec.defaults[name]
            elif name in spec.factories:
                given[name] = spec.factories[name]()
            else:
                raise TypeError(
                    f"{type(self).__qualname__}.__init__() missing required argument: {name!r}"
                )
    # Straight into the instance dict: a frozen class's __setattr__ refuses, as it should.
    self.__dict__.update(given)


def _values(self: object) -> tuple[object, ...]:
    spec: _Spec = getattr(self, _SPEC)
    return tuple(getattr(self, name) for name in spec.names)


def _repr(self: object) -> str:
    spec: _Spec = getattr(self, _SPEC)
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in spec.names)
    return f"{type(self).__qualname__}({inner})"


def _eq(self: object, other: object) -> object:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: object) -> int:
    return hash(_values(self))


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise _FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise _FrozenInstanceError(f"cannot delete field {name!r}")


def _make(cls: type, frozen: bool) -> type:
    if "__post_init__" in cls.__dict__:
        raise TypeError(f"{cls.__qualname__}: __post_init__ is not supported by fastreboot.values")
    names: list[str] = []
    defaults: dict[str, object] = {}
    factories: dict[str, Callable[[], object]] = {}
    for base in reversed(cls.__mro__[1:]):
        inherited: _Spec | None = base.__dict__.get(_SPEC)
        if inherited is not None:
            names += [name for name in inherited.names if name not in names]
            defaults.update(inherited.defaults)
            factories.update(inherited.factories)
    # Not inspect.get_annotations: importing inspect is what this module avoids.
    annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    for name, annotation in annotations.items():
        if _is_class_var(annotation):
            continue
        if name not in names:
            names.append(name)
        value = cls.__dict__.get(name, _MISSING)
        if isinstance(value, _Field):
            if value.default_factory is not None:
                factories[name] = value.default_factory
                delattr(cls, name)
                continue
            value = value.default
            if value is _MISSING:
                delattr(cls, name)
                continue
            setattr(cls, name, value)
        if value is _MISSING:
            continue
        if isinstance(value, (list, dict, set)):
            raise ValueError(f"mutable default {type(value)} for field {name} is not allowed")
        defaults[name] = value
    seen_default = False
    for name in names:
        has_default = name in defaults or name in factories
        if seen_default and not has_default:
            raise TypeError(f"non-default argument {name!r} follows default argument")
        seen_default = seen_default or has_default
    setattr(cls, _SPEC, _Spec(tuple(names), defaults, factories))
    methods: dict[str, object] = {"__init__": _init, "__repr__": _repr, "__eq__": _eq}
    if frozen:
        methods["__hash__"] = _hash
        methods["__setattr__"] = _frozen_setattr
        methods["__delattr__"] = _frozen_delattr
    else:
        methods["__hash__"] = None  # mutable and compared by value: unhashable, as dataclasses
    for name, method in methods.items():
        if name not in cls.__dict__ or (name == "__hash__" and cls.__dict__[name] is None):
            setattr(cls, name, method)
    return cls


def _dataclass(cls: type | None = None, /, *, frozen: bool = False) -> Any:
    def wrap(cls: type) -> type:
        return _make(cls, frozen)

    return wrap if cls is None else wrap(cls)


def _replace(obj: Any, /, **changes: Any) -> Any:
    spec = _spec(obj)
    if spec is None:
        raise TypeError("replace() should be called on value class instances")
    values = {name: getattr(obj, name) for name in spec.names}
    return type(obj)(**(values | changes))


def _copy(value: Any) -> Any:
    if _spec(value) is not None:
        return _asdict(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(item) for item in value)
    if isinstance(value, dict):
        return type(value)((_copy(key), _copy(item)) for key, item in value.items())
    if value is None or isinstance(value, (str, int, float)):
        return value
    import copy

    return copy.deepcopy(value)


def _asdict(obj: Any) -> dict[str, Any]:
    spec = _spec(obj)
    if spec is None:
        raise TypeError("asdict() should be called on value class instances")
    return {name: _copy(getattr(obj, name)) for name in spec.names}


__all__ = ["FrozenInstanceError", "asdict", "dataclass", "field", "replace"]

if TYPE_CHECKING:
    from dataclasses import FrozenInstanceError, asdict, dataclass, field, replace
else:
    FrozenInstanceError = _FrozenInstanceError
    asdict = _asdict
    dataclass = _dataclass
    field = _field
    replace = _replace
