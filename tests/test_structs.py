"""``struct`` makes the class ``dataclass`` would make, without generating code: the reference is
the dataclass of the same body."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dev_system.structs import struct


def pair(frozen: bool) -> tuple[type, type]:
    """The same class body made by ``dataclass`` and by ``struct``."""
    made = []
    for decorate in (dataclasses.dataclass(frozen=frozen), struct(frozen=frozen)):
        class Point:
            """A record with every kind of field the project uses."""

            x: int
            y: Any = 0
            label: str | None = None
            tags: list = dataclasses.field(default_factory=list)
            note: str = dataclasses.field(default="", repr=False)
            cache: Any = dataclasses.field(default=None, compare=False)

        made.append(decorate(Point))
    return made[0], made[1]


values = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.none(), st.floats(allow_nan=False, width=32))
hashable = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.none())


def hash_of(obj: object) -> object:
    try:
        return hash(obj)
    except TypeError:  # a list in a field: unhashable, for both
        return "unhashable"


@st.composite
def arguments(draw: st.DrawFn) -> tuple[tuple, dict]:
    """Arguments for Point(...), positional then keyword, some left to their defaults."""
    names = ["x", "y", "label", "tags", "note", "cache"]
    given_values = {"x": draw(hashable), "y": draw(values), "label": draw(st.none() | st.text(max_size=3)),
                    "tags": draw(st.lists(hashable, max_size=2)), "note": draw(st.text(max_size=3)),
                    "cache": draw(values)}
    positional = draw(st.integers(1, len(names)))
    kept = [name for name in names[positional:] if draw(st.booleans())]
    return tuple(given_values[n] for n in names[:positional]), {n: given_values[n] for n in kept}


@pytest.mark.parametrize("frozen", [True, False])
@given(first=arguments(), second=arguments())
def test_a_record_behaves_as_its_dataclass(frozen: bool, first: tuple[tuple, dict], second: tuple[tuple, dict]) -> None:
    reference, ours = pair(frozen)
    (args_a, kwargs_a), (args_b, kwargs_b) = first, second
    ref_a, ref_b = reference(*args_a, **kwargs_a), reference(*args_b, **kwargs_b)
    our_a, our_b = ours(*args_a, **kwargs_a), ours(*args_b, **kwargs_b)
    assert repr(our_a) == repr(ref_a)
    assert dataclasses.asdict(our_a) == dataclasses.asdict(ref_a)
    assert (our_a == our_b) == (ref_a == ref_b)
    assert (our_a == ours(*args_a, **kwargs_a)) == (ref_a == reference(*args_a, **kwargs_a))
    assert (our_a == ref_a) is False  # another class: never equal
    assert [f.name for f in dataclasses.fields(ours)] == [f.name for f in dataclasses.fields(reference)]
    assert dataclasses.is_dataclass(our_a)
    assert dataclasses.asdict(dataclasses.replace(our_a, y="changed")) == dataclasses.asdict(
        dataclasses.replace(ref_a, y="changed"))
    if frozen:
        assert hash_of(our_a) == hash_of(ref_a)
        with pytest.raises(dataclasses.FrozenInstanceError):
            our_a.x = 1
        with pytest.raises(dataclasses.FrozenInstanceError):
            del our_a.y
    else:
        assert ours.__hash__ is None and reference.__hash__ is None
        our_a.x = ref_a.x = "set"
        assert repr(our_a) == repr(ref_a)


@pytest.mark.parametrize("call", [
    lambda cls: cls(),                      # a required field missing
    lambda cls: cls(1, 2, None, [], "", None, 7),  # too many
    lambda cls: cls(1, x=2),                # twice
    lambda cls: cls(1, colour="red"),      # unknown
])
def test_wrong_arguments_raise_type_error_like_the_dataclass(call: Any) -> None:
    reference, ours = pair(frozen=True)
    with pytest.raises(TypeError):
        call(reference)
    with pytest.raises(TypeError):
        call(ours)


def test_default_factories_make_a_new_value_each_time() -> None:
    _, ours = pair(frozen=True)
    first, second = ours(1), ours(2)
    assert first.tags == [] and first.tags is not second.tags


def test_a_record_that_holds_itself_shows_dots() -> None:
    reference, ours = pair(frozen=False)
    ref, our = reference(1), ours(1)
    ref.y, our.y = ref, our
    assert repr(our) == repr(ref)
