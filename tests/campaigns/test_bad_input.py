"""Bad input: hostile arguments and names, malformed command lines, databases edited by hand.

Whatever a user's code passes to a decorated function, the event is stored, its metadata is
strict JSON and its size is bounded; whatever names the user picks, they are stored verbatim and
used as data, never as SQL; whatever is typed on the command line, ``dev-system`` answers with a
result or with one line and exit status 2.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_reliability_figures import note_fault

from dev_system import cli
from dev_system.events import TelemetryEvent
from dev_system.ops.telemetry import annotate, flush, stats, telemetry_decorator
from dev_system.store import db as store
from dev_system.store.events import insert_events, storable

#: Upper bound of the metadata of one event, in bytes: each of the two sanitized parts (arguments,
#: annotations) keeps at most 2,000 values and 100,000 characters; a character takes at most 6
#: bytes in JSON (a control character escaped as \\uXXXX); markers and punctuation add the rest.
METADATA_BOUND = 2 * 6 * (100_000 + 2_000 * 40) + 1_000


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: str):
    return json.loads(text, parse_constant=_reject_constant)


# --- hostile values ------------------------------------------------------------------------------

class RaisingRepr:
    def __repr__(self):
        raise RuntimeError("repr refused")


class NonStrRepr:
    def __repr__(self):
        return 42  # type: ignore[return-value]


class HugeRepr:
    def __repr__(self):
        return "R" * 1_000_000


class SecretRepr:
    def __repr__(self):
        return "Client(api_key='sk-proj-abcdefghijklmnopqrstuvwxyz0123456789')"


class RaisingIterList(list):
    def __iter__(self):
        raise RuntimeError("no iteration")

    def __len__(self):
        raise RuntimeError("no len")

    def __getitem__(self, item):
        raise RuntimeError("no items")


class RaisingItemsDict(dict):
    def items(self):
        raise RuntimeError("no items")


class BadModel:
    def model_dump(self):
        raise RuntimeError("cannot dump")


class SelfModel:
    def model_dump(self):
        return self


class WeirdStr(str):
    def __str__(self):
        raise RuntimeError("no str")


def released_view() -> memoryview:
    view = memoryview(b"abc")
    view.release()
    return view


ODD_OBJECTS = [RaisingRepr(), NonStrRepr(), HugeRepr(), SecretRepr(), RaisingIterList([1]),
               RaisingItemsDict(a=1), BadModel(), SelfModel(), WeirdStr("weird"), released_view(),
               object(), type, print, Ellipsis, NotImplemented, 1j, range(10**12), iter([1])]

any_text = st.text(st.characters(blacklist_categories=()), max_size=50)  # lone surrogates included
big_text = st.integers(0, 300_000).map(lambda n: "\x1b\u202e\x00é" * (n // 4))
scalars = st.one_of(
    st.none(), st.booleans(), any_text, big_text, st.binary(max_size=50),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(0, len(ODD_OBJECTS) - 1).map(lambda i: ODD_OBJECTS[i]),
)
keys = st.one_of(any_text, st.integers(), st.floats(allow_nan=True), st.tuples(st.integers(), any_text),
                 st.frozensets(st.integers(), max_size=3), st.none())
hostile = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=8),
        st.dictionaries(keys, children, max_size=8),
        st.tuples(children, children),
        st.lists(children, max_size=4).map(tuple),
    ),
    max_leaves=40,
)


def shaped(value, shape: str, size: int):
    """``value`` made worse: nested deep, in a cycle, or shared many times over (a "bomb")."""
    if shape == "deep":
        for _ in range(size * 50):
            value = {"n": value}
    elif shape == "cycle":
        box: list = [value]
        box.append(box)
        holder = {"box": box}
        holder["self"] = holder
        value = holder
    elif shape == "bomb":
        for _ in range(min(size, 8)):
            value = [value] * 50
    return value


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(value=hostile, shape=st.sampled_from(["plain", "deep", "cycle", "bomb"]), size=st.integers(1, 8),
       key=any_text.filter(lambda k: k not in ("_trace_id", "payload", "")))
@example(value="x" * 1000, shape="bomb", size=8, key="k")
@example(value=[1, b"\xff", math.nan], shape="cycle", size=1, key="\udcff")
def test_any_argument_gives_a_stored_event_with_strict_bounded_json(recording, value, shape, size, key):
    value = shaped(value, shape, size)

    @telemetry_decorator(agent_name="svc")
    def call(payload, **extra):
        annotate(note=value)
        return "done"

    flush()
    before = stats()
    assert call(value, **{key: value}) == "done"
    flush()
    after = stats()
    assert after["stored"] - before["stored"] == 1 and after["dropped"] == before["dropped"]
    with sqlite3.connect(recording.db_path) as conn:
        (metadata,) = conn.execute("SELECT metadata FROM telemetry_events ORDER BY id DESC LIMIT 1").fetchone()
    assert isinstance(strict_json(metadata), dict)
    assert len(metadata.encode("utf-8")) <= METADATA_BOUND
    assert "sk-proj-abcdefghijklmnopqrstuvwxyz" not in metadata
    note_fault("bad input: generated hostile argument (nesting, cycles, shares, huge, bytes, odd objects)",
               recorded=1, stored=1)


def test_a_shared_structure_is_not_expanded_on_the_calling_thread(recording):
    """``[[s] * 50] * 50 ...`` six deep is a few kilobytes in memory and 15 billion strings when
    expanded: the call returns at once and the stored metadata stays small."""
    value = "x" * 1000
    for _ in range(6):
        value = [value] * 50

    @telemetry_decorator(agent_name="svc")
    def call(payload):
        return len(payload)

    assert call(value) == 50
    [event] = recording.events()
    assert len(event.metadata) < 1_000_000
    assert "more items" in event.metadata
    note_fault("bad input: argument that expands to 15 billion strings", recorded=1, stored=1)


def test_every_hostile_value_kind_at_once_is_one_stored_event(recording):
    @telemetry_decorator(agent_name="svc")
    def call(*args, **kwargs):
        return True

    payload = {f"k{i}": obj for i, obj in enumerate(ODD_OBJECTS)}
    payload.update({"nan": math.nan, "inf": math.inf, "huge": 10**400, "bytes": b"\xff\xfe",
                    "surrogate": "a\udcffb", "\udcffkey": 1, "nul": "a\x00b"})
    dropped_before = stats()["dropped"]
    assert call(*ODD_OBJECTS, **payload) is True
    [event] = recording.events()
    data = strict_json(event.metadata)
    assert data["args"]["nan"] == "nan" and data["args"]["surrogate"] == "a?b" and data["args"]["nul"] == "a\x00b"
    assert data["args"]["k0"] == "<unrepresentable RaisingRepr>"
    assert stats()["dropped"] == dropped_before
    note_fault("bad input: every hostile kind of value in one call", recorded=1, stored=1)


# --- hostile names ------------------------------------------------------------------------------

HOSTILE_NAMES = [
    "'; DROP TABLE telemetry_events; --",
    "\" OR 1=1 --",
    "x' UNION SELECT sql FROM sqlite_master --",
    "\x1b[31mred\x1b[0m",
    "\x1b]0;owned title\x07",
    "\x1b[2J\x1b[H cleared",
    "line\nbreak\rcarriage",
    "nul\x00byte",
    "bidi \u202eevil\u202c",
    "%s %n %x {0} {__class__}",
    "😀 emoji and ü",
    "a" * 5000,
    "\t tab \x7f del \x9b csi",
]


def _control_chars(text: str) -> list[str]:
    return sorted({c for c in text if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0})


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_hostile_names_are_stored_verbatim_and_never_run_as_sql(recording, name):
    @telemetry_decorator(agent_name=name, event_type=name, function_name=name)
    def call(**kwargs):
        return 1

    call(**{name: name}, _trace_id=name)
    [event] = recording.events()
    assert (event.agent_name, event.event_type, event.function_name, event.trace_id) == (name, name, name, name)
    stored_args = event.metadata_dict["args"]
    assert list(stored_args) == [name[:100] + ("…[truncated 4900 chars]" if len(name) > 100 else "")]
    with sqlite3.connect(recording.db_path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        count = conn.execute("SELECT COUNT(*) FROM telemetry_events WHERE agent_name = ?", (name,)).fetchone()[0]
    assert {"telemetry_events", "runs", "dropped_events"} <= tables and count == 1


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``dev-system ARGV`` in this process, with standard streams that behave like a real
    process's (UTF-8; stderr writes what it cannot encode as backslash escapes)."""
    import io
    import sys

    capsys.readouterr()
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # --help and --version print and exit 0, as argparse does
            code = exc.code
            assert code == 0, (argv, code)
    finally:
        sys.stdout, sys.stderr = saved
    return code, out.buffer.getvalue().decode("utf-8"), err.buffer.getvalue().decode("utf-8")


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_hostile_filter_flags_select_exactly_and_are_data(recording, capsys, name):
    @telemetry_decorator(agent_name=name, function_name=name)
    def call():
        return 1

    @telemetry_decorator(agent_name="plain")
    def other():
        return 2

    call(_trace_id=name)
    other()
    flush()
    db = str(recording.db_path)
    for flag in ("--agent", "--function", "--trace"):
        code, out, err = run_cli(capsys, "events", "--format", "json", "--db", db, flag, name)
        assert code == 0, err
        assert [e["agent_name"] for e in json.loads(out)] == [name]
        code, out, err = run_cli(capsys, "metrics", "--period", "all", "--format", "json", "--db", db, flag, name)
        assert code == 0, err
        assert json.loads(out)["events"] == 1
    code, out, err = run_cli(capsys, "trace", name, "--format", "json", "--db", db)
    assert code == 0 and [e["trace_id"] for e in json.loads(out)] == [name]
    code, out, err = run_cli(capsys, "events", "--format", "json", "--db", db, "--agent", "x' OR '1'='1")
    assert code == 0 and json.loads(out) == []


def test_text_reports_neutralise_terminal_control_characters(recording, capsys):
    names = [n for n in HOSTILE_NAMES if _control_chars(n)]

    @telemetry_decorator(agent_name="svc")
    def call(i):
        raise ValueError(names[i])

    for i, name in enumerate(names):
        wrapped = telemetry_decorator(agent_name=name, event_type=name, function_name=name)(call.__wrapped__)
        with pytest.raises(ValueError):
            wrapped(i, _trace_id=name)
    flush()
    db = str(recording.db_path)
    outputs = []
    for argv in (["events", "--db", db], ["events", "--failed", "--db", db],
                 ["metrics", "--period", "all", "--db", db], ["metrics", "--period", "all", "--by", "agent", "--db", db],
                 ["metrics", "--period", "all", "--format", "markdown", "--by", "function", "--db", db],
                 ["trace", names[0], "--db", db]):
        code, out, err = run_cli(capsys, *argv)
        assert code in (0, 1), err
        outputs.append((argv, out + err))
    leaks = [(argv, _control_chars(text)) for argv, text in outputs if _control_chars(text)]
    assert leaks == []


# --- the command line --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_files(tmp_path_factory) -> dict[str, str]:
    """Files for the command's tests that read them (a database of 40 events, a newer one, ...)."""
    return _make_cli_files(tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="module")
def fuzz_files(tmp_path_factory) -> dict[str, str]:
    """The same files for the fuzzed command lines, which may write over any of them
    (``export --output {good}``, ``prune``): the other tests keep theirs intact."""
    return _make_cli_files(tmp_path_factory.mktemp("fuzz"))


def _make_cli_files(tmp: Path) -> dict[str, str]:
    (tmp / "pyproject.toml").write_text("[project]\nname = 'fuzz'\n")
    good = tmp / "good.db"
    conn = store.connect(good)
    now = time.time()
    insert_events(conn, [storable(TelemetryEvent(
        now - i * 60, "model_call", f"agent{i % 3}", "f", 10, 5, 100.0 + i, 0.01, i % 4 != 0,
        None if i % 4 else "ValueError", f"t{i % 5}", None, f"e{i}", f"s{i}", None, None, None)) for i in range(40)])
    conn.close()
    newer = tmp / "newer.db"
    store.connect(newer).execute("PRAGMA user_version = 99")
    (tmp / "text.txt").write_text("not a database\n")
    (tmp / "folder").mkdir()
    return {"tmp": str(tmp), "good": str(good), "newer": str(newer), "text": str(tmp / "text.txt"),
            "folder": str(tmp / "folder"), "missing": str(tmp / "missing.db"), "dev": "/dev/null",
            "newline": str(tmp / "new\nline.db"), "escape": str(tmp / "\x1b[31mred.db")}


COMMANDS = ["init", "metrics", "events", "trace", "export", "prune", "combine", "report", "runs", "compare",
            "nope", "--help", "-h", "--version", ""]
FLAGS = ["--period", "--by", "--format", "--fail-on-alert", "--success-rate-min", "--p95-latency-ms-max",
         "--daily-cost-usd-max", "--agent", "--event-type", "--function", "--trace", "--run", "--db", "--failed",
         "--limit", "--output", "-o", "--older-than", "--dry-run", "--telemetry", "--", "-", "--bogus", "-x",
         "--into", "--baseline", "--branch", "--fail", "--html", "--title", "--tests", "--quiet", "--endpoint"]
VALUES = ["1d", "7d", "24h", "30m", "2w", "today", "all", "0d", "-1d", "1e3d", "1.5d", "9999999d",
          "1 d", "", " ", "d", "7", "nan", "inf", "-inf", "1e309", "-5", "0", "1e-400", "text", "json", "csv",
          "markdown", "jsonl", "xml", "agent", "day", "model", "error_type", "colour", "a\nb", "\x1b[31m",
          "\x00", "é", "'; DROP TABLE telemetry_events; --", "%s", "{good}", "{newer}", "{text}",
          "{folder}", "{missing}", "{dev}", "{newline}", "{escape}", "{tmp}/out.jsonl", "{tmp}/no/such/dir/out.csv",
          "{folder}", "x" * 3000]

argv_strategy = st.tuples(
    st.sampled_from(COMMANDS),
    st.lists(st.one_of(st.sampled_from(FLAGS), st.sampled_from(VALUES)), max_size=8),
)


def _check_outcome(code: int, out: str, err: str, argv: list[str], *, inert: bool = False) -> None:
    """Exit 0, 1 or 2, never a traceback; on 2, one line. ``inert=False`` lets an argument that
    itself holds a line break be echoed raw (a known bug, tested on its own below)."""
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err and "Traceback" not in out, (argv, err)
    if code == 2:
        assert err.startswith("dev-system: error: "), (argv, err)
        text = err
        if not inert:
            for value in sorted(set(argv), key=len, reverse=True):
                text = text.replace(value, "")
        assert text.count("\n") + text.count("\r") == 1, (argv, err)
        if inert:
            assert not _control_chars(err.rstrip("\n")), (argv, err)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=argv_strategy)
@example(argv=("metrics", ["--db", "{newline}"]))
@example(argv=("events", ["--db", "{escape}"]))
@example(argv=("metrics", ["--success-rate-min", "nan", "--db", "{good}"]))
@example(argv=("export", ["-o", "{folder}", "--db", "{good}"]))
@example(argv=("metrics", ["--period", "99999999999999999999d", "--db", "{good}"]))
def test_fuzzed_command_lines_answer_or_fail_in_one_line(fuzz_files, capsys, monkeypatch, argv):
    monkeypatch.chdir(fuzz_files["tmp"])
    command, rest = argv
    full = ([command] if command else []) + [a.format(**fuzz_files) if "{" in a and "}" in a else a for a in rest]
    code, out, err = run_cli(capsys, *full)
    _check_outcome(code, out, err, full)
    note_fault("bad input: fuzzed dev-system command line")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(["metrics", "events", "export", "report", "runs", "compare", "trace", "prune"]),
       pairs=st.lists(st.tuples(st.sampled_from(FLAGS), st.sampled_from(VALUES)), max_size=3),
       positional=st.lists(st.sampled_from(VALUES), max_size=2))
def test_fuzzed_flags_on_a_real_database_answer_or_fail_in_one_line(cli_files, fuzz_files, capsys, monkeypatch,
                                                                    tmp_path_factory, command, pairs, positional):
    """Well-formed commands on a real database with one to three odd flag values: deeper than the
    parser. Writing commands get a copy of the database."""
    import shutil

    monkeypatch.chdir(fuzz_files["tmp"])
    db = tmp_path_factory.mktemp("copy") / "good.db"
    shutil.copy(cli_files["good"], db)  # intact: the fuzzed values may write over fuzz_files
    argv = [command, *[a.format(**fuzz_files) if "{" in a and "}" in a else a for a in positional]]
    for flag, value in pairs:
        argv += [flag, value.format(**fuzz_files) if "{" in value and "}" in value else value]
    argv += ["--db", str(db)]
    code, out, err = run_cli(capsys, *argv)
    _check_outcome(code, out, err, argv)
    note_fault("bad input: fuzzed flags of a well-formed command on a real database")


@pytest.mark.parametrize("argv", [["init", "a\nb"], ["events", "\x1b[2J"], ["metrics", "--db", "x", "\x1b]0;t\x07"]])
def test_bad_arguments_are_echoed_inertly(cli_files, capsys, argv):
    code, out, err = run_cli(capsys, *argv)
    _check_outcome(code, out, err, argv, inert=True)


def test_a_database_name_too_long_for_the_file_system_fails_in_one_line(cli_files, capsys):
    """Found by the fuzzed command lines: Path.is_file() raises for ENAMETOOLONG."""
    code, out, err = run_cli(capsys, "metrics", "--db", "x" * 5000)
    assert code == 2 and err.startswith("dev-system: error: cannot open ") and "File name too long" in err
    _check_outcome(code, out, err, ["metrics", "--db", "x" * 5000])


@pytest.mark.parametrize("argv", [["export", "--output", "\x00"], ["report", "--html", "a\x00.html"]])
def test_output_paths_holding_a_nul_fail_in_one_line(cli_files, capsys, tmp_path, argv):
    """Found by the fuzzed flags: a NUL in a path makes open() raise ValueError, not OSError."""
    db = tmp_path / "t.db"  # its own: the fuzzed command lines may have written over the shared one
    store.connect(db).close()
    code, out, err = run_cli(capsys, *argv, "--db", str(db))
    assert code == 2 and err.startswith("dev-system: error: cannot write ")
    _check_outcome(code, out, err, argv)


@pytest.mark.parametrize("argv", [["events", "--limit", "99999999999999999999"],
                                  ["prune", "--older-than", "99999999999999999999d", "--dry-run"]])
def test_numbers_out_of_range_fail_in_one_line(cli_files, capsys, argv):
    code, out, err = run_cli(capsys, *argv, "--db", cli_files["good"])
    _check_outcome(code, out, err, argv)


def test_arguments_that_are_not_utf8_are_answered(cli_files, capsys):
    """A byte that is not UTF-8 on the command line arrives as a lone surrogate."""
    for argv in (["init", "\udcff"], ["events", "--db", "/tmp/\udcff.db"], ["metrics", "--period", "\udcff"]):
        code, out, err = run_cli(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (argv, err)


def test_filter_flags_that_are_not_utf8_are_answered(cli_files, capsys):
    code, out, err = run_cli(capsys, "events", "--agent", "\udcff", "--db", cli_files["good"])
    _check_outcome(code, out, err, ["--agent"])


# --- databases edited by hand -------------------------------------------------------------------

@pytest.fixture
def hand_edited(tmp_path) -> Path:
    """A telemetry database whose rows were changed by hand: NULLs, negative numbers, text in
    number columns, a timestamp as a date string, metadata that is not JSON."""
    db = tmp_path / "edited.db"
    store.connect(db).close()
    now = time.time()
    rows = [
        (now - 10, "model_call", "good", "f", 10, 5, 100.0, 0.5, 1, None, "t1", '{"a": 1}'),
        (now - 9, "model_call", "good", "f", None, None, -5.0, None, 0, None, "t1", "{not json"),
        (now - 8, "model_call", "typed", "f", "ten", "five", "slow", "cheap", "yes", 42, "t2", "[1, 2]"),
        ("2026-01-01", "model_call", "dated", "f", 1, 1, 5.0, 0.0, 1, None, None, None),
        (now - 7, "model_call", "negative", "f", -100, -1, 5.0, -3.0, 1, None, None, None),
        (now - 6, "model_call", "huge", "f", 2**62, 2**62, 1e308, 1e308, 1, None, None, None),
        (None, None, None, None, None, None, None, None, None, None, None, None),
    ]
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE telemetry_events RENAME TO strict_events")
        conn.execute("CREATE TABLE telemetry_events AS SELECT * FROM strict_events WHERE 0")  # no NOT NULL left
        conn.execute("DROP TABLE strict_events")
        conn.executemany(
            "INSERT INTO telemetry_events (timestamp, event_type, agent_name, function_name, input_tokens,"
            " output_tokens, latency_ms, cost_usd, success, error_type, trace_id, metadata)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return db


def test_reports_read_valid_rows_among_hand_edited_ones_without_a_traceback(hand_edited, capsys):
    """Today's contract: every command answers (0) or fails in one line (2); never a traceback."""
    db = str(hand_edited)
    for argv in (["metrics", "--period", "all"], ["metrics", "--period", "all", "--by", "day"],
                 ["metrics", "--period", "1d", "--format", "json"], ["events"], ["events", "--failed"],
                 ["trace", "t1"], ["export"], ["export", "--format", "csv"]):
        try:
            code = cli.main([*argv, "--db", db])
        except Exception as exc:
            pytest.xfail(f"helper-1 (metrics.py/report.py): {argv} raised {type(exc).__name__}: {exc}")
        out, err = capsys.readouterr()
        _check_outcome(code, out, err, argv)


def test_reports_skip_unusable_rows_and_say_so(hand_edited, capsys):
    code, out, err = run_cli(capsys, "metrics", "--period", "all", "--format", "json", "--db", str(hand_edited))
    assert code == 0, err
    report = json.loads(out)
    assert report["events"] >= 4  # the rows whose columns hold usable values
    assert re.search(r"skipp", out + err)
    code, out, err = run_cli(capsys, "events", "--db", str(hand_edited))
    assert code == 0 and re.search(r"skipp", out + err)


# --- settings --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, value", [
    ("DEV_SYSTEM_FLUSH_INTERVAL_S", "0"), ("DEV_SYSTEM_FLUSH_INTERVAL_S", "-1"),
    ("DEV_SYSTEM_FLUSH_INTERVAL_S", "nan"), ("DEV_SYSTEM_SAMPLE_RATE", "1.5"), ("DEV_SYSTEM_BUFFER_SIZE", "0"),
    ("DEV_SYSTEM_MAX_VALUE_CHARS", "-5"), ("DEV_SYSTEM_TELEMETRY", "maybe"), ("DEV_SYSTEM_SYNC", "2"),
    ("DEV_SYSTEM_SUCCESS_RATE_MIN", "inf"),
])
def test_unusable_settings_are_refused_in_one_line_naming_them(tmp_path, name, value):
    """A flush interval of 0 or less used to make the writer spin a whole core."""
    from dev_system import config

    with pytest.raises(config.ConfigError) as info:
        config.load(cwd=tmp_path, environ={name: value})
    message = str(info.value)
    assert "\n" not in message and name in message
    note_fault("bad input: unusable setting")


@pytest.mark.parametrize("table", [
    'input = nan\noutput = 1', 'input = 1\noutput = -1', 'input = inf\noutput = 1', 'input = "cheap"\noutput = 1',
    'input = true\noutput = 1', 'output = 1', 'input = 1\noutput = 1\ncached-input = -0.5',
])
def test_unusable_prices_are_refused(tmp_path, table):
    from dev_system import config

    (tmp_path / "pyproject.toml").write_text(f'[tool.dev-system.prices."m"]\n{table}\n')
    with pytest.raises(config.ConfigError) as info:
        config.load(cwd=tmp_path, environ={})
    assert "\n" not in str(info.value) and "prices" in str(info.value)
    note_fault("bad input: unusable model price")


def test_a_set_but_empty_database_path_in_the_environment_means_unset(tmp_path):
    from dev_system import config

    assert config.load(cwd=tmp_path, environ={"DEV_SYSTEM_DB_PATH": " "}).db_path == tmp_path / config.DB_RELATIVE
    with pytest.raises(config.ConfigError):
        config.load({"db_path": ""}, cwd=tmp_path, environ={})
