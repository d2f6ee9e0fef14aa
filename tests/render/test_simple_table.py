"""The event listing's table is laid out exactly as tabulate's ``simple`` format lays it out."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tabulate import tabulate

from dev_system.render.text import simple_table

#: Cells of every kind a listing can hold: ASCII with spaces and control characters, and text
#: that tabulate must lay out itself (wide characters, escape codes, several lines).
_CELL = st.one_of(st.text(st.characters(max_codepoint=127), max_size=12),
                  st.lists(st.sampled_from([" ", "a", "Z", "-", "é", "日", "\x1b[31m", "\n", "\r", "\t"]),
                           max_size=8).map("".join))
_HEADERS = ("time", "agent", "type", "error")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(_CELL, min_size=len(_HEADERS), max_size=len(_HEADERS)), min_size=1, max_size=6))
def test_the_table_is_tabulates_simple_table(rows: list[list[str]]) -> None:
    assert simple_table(_HEADERS, rows) == tabulate(rows, headers=_HEADERS, tablefmt="simple", disable_numparse=True)
