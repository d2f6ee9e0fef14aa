"""Dataclasses that cost next to nothing to define: :func:`struct`.

``@dataclasses.dataclass`` writes the source of ``__init__``, ``__repr__``, ``__eq__``,
``__hash__``, ``__setattr__`` and ``__delattr__`` for each class and compiles it: about 0.8 ms a
class on Python 3.11, paid at import by every process that imports the class — every
``pytest --telemetry`` run pays it for the dozen small classes of a run's report. :func:`struct`
makes the same class, still a dataclass to :func:`dataclasses.fields`, :func:`dataclasses.replace`
and :func:`dataclasses.asdict`, with shared methods that read the fields instead of generated
ones. Making an instance costs a few microseconds more: fine for classes made a few times per
command, not once per event.
"""

from __future__ import annotations

import dataclasses
import reprlib
from typing import Any, TypeVar

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def struct(cls: type[T] | None = None, *, frozen: bool = True) -> Any:
    """``@dataclasses.dataclass(frozen=frozen)`` for a plain record class: fields with or without
    defaults or default factories; no ``__post_init__``, ``InitVar``, keyword-only fields or
    ordering. Equality, hashing (frozen only), ``repr`` and frozenness behave as the dataclass's."""

    def make(cls: type[T]) -> type[T]:
        # The fields, their defaults, __match_args__ and the dataclass markers; no generated code.
        cls = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
        fields = dataclasses.fields(cls)
        names = tuple(f.name for f in fields)
        defaults = tuple(f.default for f in fields)
        factories = tuple(f.default_factory for f in fields)
        shown = tuple(f.name for f in fields if f.repr)
        compared = tuple(f.name for f in fields if f.compare)
        hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
        set_field = object.__setattr__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            if not kwargs and len(args) == len(names):  # every field given in order: the common case
                for name, value in zip(names, args):
                    set_field(self, name, value)
                return
            if len(args) > len(names):
                raise TypeError(f"{cls.__name__}() takes {len(names)} positional arguments but {len(args)} were given")
            for i, name in enumerate(names):
                if i < len(args):
                    if name in kwargs:
                        raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
                    value = args[i]
                elif name in kwargs:
                    value = kwargs.pop(name)
                elif defaults[i] is not _MISSING:
                    value = defaults[i]
                elif factories[i] is not _MISSING:
                    value = factories[i]()
                else:
                    raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
                set_field(self, name, value)
            if kwargs:
                raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {next(iter(kwargs))!r}")

        @reprlib.recursive_repr()
        def __repr__(self: Any) -> str:
            inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
            return f"{type(self).__qualname__}({inner})"

        def __eq__(self: Any, other: Any) -> Any:
            if other.__class__ is not self.__class__:
                return NotImplemented
            return all(getattr(self, name) == getattr(other, name) for name in compared)

        methods: dict[str, Any] = {"__init__": __init__, "__repr__": __repr__, "__eq__": __eq__, "__hash__": None}
        if frozen:
            def __hash__(self: Any) -> int:
                return hash(tuple(getattr(self, name) for name in hashed))

            def __setattr__(self: Any, name: str, value: Any) -> None:
                if type(self) is cls or name in names:
                    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
                set_field(self, name, value)

            def __delattr__(self: Any, name: str) -> None:
                if type(self) is cls or name in names:
                    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
                object.__delattr__(self, name)

            methods.update(__hash__=__hash__, __setattr__=__setattr__, __delattr__=__delattr__)
        for name, method in methods.items():
            if method is not None:
                method.__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, method)
        return cls

    return make if cls is None else make(cls)
