"""The commands that write a database: ``init``, ``prune`` and ``combine``."""

from __future__ import annotations

import argparse
import os
import sqlite3
import time
from pathlib import Path

from dev_system import config
from dev_system.cli.common import db_path, write
from dev_system.cli.parser import UsageError
from dev_system.formatting import plural
from dev_system.render.text import local_time
from dev_system.store import db as store
from dev_system.store.combine import CombineError, combine
from dev_system.store.prune import PruneResult, prune, reclaim
from dev_system.store.schema import SCHEMA_VERSION, schema_version


def cmd_init(args: argparse.Namespace) -> int:
    """``init --telemetry``: the folder, its config and the database; idempotent."""
    if not args.telemetry:
        raise UsageError("init: nothing to do; run 'dev-system init --telemetry'")
    root = config.find_project_root()
    folder = root / config.DATA_DIR
    config_path = root / config.FOLDER_CONFIG
    path = args.db if args.db is not None else config.default_db_path(root)
    done: list[str] = []
    if not folder.is_dir():
        try:
            folder.mkdir(mode=0o700, parents=True)
            os.chmod(folder, 0o700)
        except OSError as exc:
            raise store.cannot_create(folder, exc, folder=True) from None
        done.append(f"created {folder}/ (private)")
    try:
        done.extend(_enable(root, config_path))
    except OSError as exc:
        raise store.cannot_create(config_path, exc, verb="write" if config_path.is_file() else "create") from None
    done.extend(_init_db(Path(path)))
    if done:
        for line in done:
            write(f"{line[0].upper()}{line[1:]}\n")
    else:
        write("Telemetry is already set up; nothing changed.\n")
    write(f"Config:   {config_path}\nDatabase: {path}\n")
    write("Decorated calls are now recorded. See them with: dev-system metrics --period 1d\n")
    return 0


def _enable(root: Path, config_path: Path) -> list[str]:
    """Write the folder's config with telemetry enabled, or enable it there; what was done."""
    if not config_path.is_file():
        fd = os.open(config_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("[telemetry]\nenabled = true\n")
        return [f"wrote {config_path} (telemetry enabled)"]
    if config.folder_enabled(root):
        return []
    text = config_path.read_text(encoding="utf-8")
    if "[telemetry]" in text:
        raise UsageError(f"{config_path} has a [telemetry] table without 'enabled = true': set it there")
    with open(config_path, "a", encoding="utf-8") as handle:
        handle.write(("" if text.endswith("\n") or not text else "\n") + "\n[telemetry]\nenabled = true\n")
    return [f"enabled telemetry in {config_path}"]


def _init_db(path: Path) -> list[str]:
    """Create the database at ``path``, or migrate it to the current schema; what was done."""
    if path.is_file() and path.stat().st_size > 0:
        conn = store.connect(path, readonly=True)
        try:
            version = schema_version(conn)
        finally:
            conn.close()
        if version == SCHEMA_VERSION:
            return []
        store.connect(path).close()
        return [f"migrated {path} to schema version {SCHEMA_VERSION}"]
    store.connect(path).close()
    os.chmod(path, 0o600)
    return [f"created the database {path} (private)"]


def cmd_prune(args: argparse.Namespace) -> int:
    """``prune --older-than``: delete old events, and the runs they empty, then give the space back
    (a writer: the only command that deletes data). ``--dry-run`` opens the database read-only."""
    seconds, label = args.older_than
    path = db_path(args)
    conn = store.connect(path, readonly=True)  # the checks and messages of a reader, before writing
    try:
        if args.dry_run:
            result = prune(conn, time.time() - seconds, dry_run=True)
    finally:
        conn.close()
    if args.dry_run:
        write(_prune_line(result, label, path) + "; nothing changed\n")
        return 0
    conn = store.connect(path)
    try:
        result = prune(conn, time.time() - seconds)
        write(_prune_line(result, label, path) + "\n")
        try:
            freed = reclaim(conn)
        except sqlite3.Error as exc:
            write(f"The freed space was not given back to the file system ({exc}): run this command again "
                  f"when nothing else uses the database, or 'sqlite3 {path} VACUUM'\n")
        else:
            if freed:
                write(f"Reclaimed {format_bytes(freed)} (VACUUM)\n")
    finally:
        conn.close()
    return 0


def _prune_line(result: PruneResult, label: str, path: Path) -> str:
    verb = "Would remove" if result.dry_run else "Removed"
    line = f"{verb} {plural(result.events, 'event')} older than {label} (before {local_time(result.cutoff)})"
    more = []
    if result.dropped_records:
        more.append(plural(result.dropped_records, "dropped-event record"))
    if result.runs:
        more.append(f"{plural(result.runs, 'run')} and {plural(result.test_results, 'test result')}")
    if result.scores:
        more.append(plural(result.scores, "score"))
    if more:
        line += " and " + ", ".join(more)
    line += f" from {path}"
    if result.runs_marked:
        marked = "would lose" if result.dry_run else "lost"
        line += (f"; {plural(result.runs_marked, 'run')} {marked} some events and "
                 f"{'is' if result.runs_marked == 1 else 'are'} no longer a baseline")
    return line


def format_bytes(size: int) -> str:
    """``1,536`` -> ``1.5 KB``."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size:,} bytes"


def cmd_combine(args: argparse.Namespace) -> int:
    """``combine A.db B.db ... --into merged.db``."""
    try:
        result = combine(args.inputs, args.into, delete_inputs=args.delete_inputs,
                         message=None if args.quiet else (lambda line: write(line + "\n")))
    except CombineError as exc:
        raise UsageError(str(exc)) from None
    merged = sum(1 for item in result.inputs if item.status == "combined")
    line = (f"Combined {plural(merged, 'database')} into {result.output}: {plural(result.total_events, 'event')}, "
            f"{plural(result.total_runs, 'run')}, {plural(result.total_test_results, 'test result')}")
    if result.deleted:
        line += f"; deleted {plural(len(result.deleted), 'input')}"
    write(line + "\n")
    return 0
