"""The demo's main part: a test run. The example support agent and its suite are copied to a
folder of their own and run under ``pytest --telemetry --telemetry-instrument=all`` against a
local fake provider, first as a baseline, then after a change to the prompt that makes every
call cheaper and one answer worse: the run summary with its scores, the comparison
with the baseline, the budget and what ``--telemetry-gate`` says, then ``dev-system scores`` and
``dev-system history`` over the two runs.

    python -m dev_system.examples.testrun_demo [--db PATH] [--folder PATH]
"""

from __future__ import annotations

import argparse
import difflib
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

#: The project's files: name in the package -> name in the project folder.
FILES = {"agent.py": "support_agent.py", "agent_tests.py": "test_support_agent.py"}
#: The project's settings: the run's cost budget (in a run, the cost threshold is the run's total)
#: and the lowest mean of each score; the gate fails the run on either.
PYPROJECT = """[tool.pytest.ini_options]
testpaths = ["test_support_agent.py"]

[tool.dev-system]
daily-cost-usd-max = 0.0045

[tool.dev-system.scores]
correctness = 0.95
"""
#: The change: the system prompt's instructions shortened, and the refund fact cut to its first part.
CHANGE = {
    """You are the support agent of Acme Cloud. Answer in two sentences at most,
politely, in plain words, and only from the facts below. Never guess a price, a date or a
policy. When the facts do not answer the question, say so and offer to hand the customer over to
a person, who will follow up by email. Thank the customer for their patience, and never share
one customer's data with another.
""": "You are Acme Cloud support. Answer briefly from these facts.\n",
    " within 30 days of purchase, to the original payment method.": " within 30 days of purchase.",
}
#: The test whose history the demo shows.
HISTORY_TEST = "test_support_agent.py::test_answers_hold_the_facts[refund]"


def write_project(folder: Path) -> None:
    """Write the example project into ``folder`` (its files as shipped: the baseline)."""
    folder.mkdir(parents=True, exist_ok=True)
    package = resources.files("dev_system.examples.support_agent")
    for source, target in FILES.items():
        (folder / target).write_text(package.joinpath(source).read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    # A project of its own, even inside another project (the demo run from a clone of this one):
    # its pytest settings make it pytest's rootdir, and its .dev-system/ makes it telemetry's project.
    (folder / ".dev-system").mkdir(exist_ok=True)


def change_prompt(folder: Path) -> list[str]:
    """Make the change in ``folder``'s agent; returns the unified diff of it."""
    path = folder / FILES["agent.py"]
    before = path.read_text(encoding="utf-8")
    after = before
    for old, new in CHANGE.items():
        after = after.replace(old, new)
    path.write_text(after, encoding="utf-8")
    return list(difflib.unified_diff(before.splitlines(), after.splitlines(), "support_agent.py (before)",
                                     "support_agent.py (after)", n=0, lineterm=""))


def run_pytest(folder: Path, db_path: Path, base_url: str, *extra: str) -> int:
    """Run the project's suite under telemetry, its output going to ours; returns pytest's exit status."""
    env = {**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "demo-key-not-used"}
    env = {k: v for k, v in env.items() if not k.startswith("DEV_SYSTEM_")}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--telemetry",
               "--telemetry-instrument=all", f"--telemetry-db={db_path}", "--telemetry-top=3", *extra]
    sys.stdout.flush()
    return subprocess.run(command, cwd=folder, env=env, stdin=subprocess.DEVNULL, timeout=600).returncode


def _section(title: str) -> None:
    print(f"\n$ {title}", flush=True)


def run(db_path: Path, folder: Path, command: Callable[[list[str]], int]) -> int:
    """The test-run demo into database ``db_path`` with the project in ``folder``; ``command``
    runs a ``dev-system`` command line. Returns 0 when every step did what it shows."""
    try:
        import openai  # noqa: F401  (the example agent's SDK)
    except ImportError:
        print("\nThe test-run part of the demo needs the openai package: pip install openai", flush=True)
        return 0
    from dev_system.examples.support_agent.provider import FakeProvider

    write_project(folder)
    print(f"\nThe main job: a test run. An example project is in {folder}:\n"
          "  support_agent.py       a support agent: one model call per question (openai SDK)\n"
          "  test_support_agent.py  6 tests; each records a correctness score with telemetry.score(), one has\n"
          "                         a budget: @pytest.mark.telemetry_budget(max_calls=1, max_cost_usd=0.01)\n"
          "  pyproject.toml         the run's cost budget and the lowest mean correctness:\n"
          + "".join(f"                           {line}\n" for line in PYPROJECT.splitlines() if line)
          + "Its model calls go to a fake OpenAI-compatible provider on 127.0.0.1 that the demo started"
          " (no key, no network).", flush=True)
    with FakeProvider() as provider:
        _section("pytest --telemetry --telemetry-instrument=all             # the baseline")
        if run_pytest(folder, db_path, provider.base_url) != 0:
            return 1
        _section("# a change to the agent: a shorter system prompt")
        print("\n".join(change_prompt(folder)), flush=True)
        _section("pytest --telemetry --telemetry-instrument=all --telemetry-compare --telemetry-gate"
                 " --telemetry-html=report.html")
        status = run_pytest(folder, db_path, provider.base_url, "--telemetry-compare", "--telemetry-gate",
                            "--telemetry-html=report.html")
        print(f"(exit status {status}: {'the gate failed the run' if status == 1 else 'the run passed'})",
              flush=True)
    for args in (["scores"], ["history", HISTORY_TEST, "--runs", "2"]):
        _section("dev-system " + shlex.join(args))
        if command([*args, "--db", str(db_path)]) != 0:
            return 1
    print(f"\nThe run's HTML report, with its scores and each test's history: {folder / 'report.html'}", flush=True)
    return 0 if status in (0, 1) else 1


def main(argv: Sequence[str] | None = None) -> int:
    from dev_system import cli, config

    parser = argparse.ArgumentParser(prog="python -m dev_system.examples.testrun_demo",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="the telemetry database (default: the project's)")
    parser.add_argument("--folder", type=Path, help="where to write the example project "
                                                    "(default: .dev-system/demo/support-agent of the project)")
    args = parser.parse_args(argv)
    db_path = args.db or config.load().db_path
    folder = args.folder or config.find_project_root() / ".dev-system" / "demo" / "support-agent"
    return run(db_path.resolve(), folder.resolve(), cli.main)


if __name__ == "__main__":
    sys.exit(main())
