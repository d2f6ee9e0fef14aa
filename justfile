# Recipes for pytest-devtelemetry. `just --list` shows them.
set positional-arguments

python := env_var_or_default("PYTHON", "python3")

# Run the test suite (what CI runs).
test *ARGS:
    {{python}} -m pytest "$@"

# Lint (what CI runs before the tests): ruff, and the import-direction check of docs/architecture.md.
lint:
    {{python}} -m ruff check .
    {{python}} tools/check_imports.py

# Record a sample agent's calls and print the reports over them.
demo *ARGS:
    {{python}} -m dev_system.examples.demo "$@"

# Run the benchmark suite (--quick for a short run, --json PATH to save the figures).
bench *ARGS:
    {{python}} benchmarks/run.py "$@"

# The dev-system command: `just dev-system init --telemetry`, `just dev-system metrics --period 7d`.
dev-system *ARGS:
    {{python}} -m dev_system "$@"

# Today's metrics.
metrics-today *ARGS:
    {{python}} -m dev_system metrics --period today "$@"

# The reliability campaign and its figures (faults injected, survived, events lost).
reliability *ARGS:
    {{python}} tests/campaigns/test_reliability_figures.py "$@"
