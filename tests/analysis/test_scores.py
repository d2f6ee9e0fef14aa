"""A run's score figures against a plain reference: per test the mean of its values, per name the
mean of the tests' means, the lowest test and how many tests (Hypothesis)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from dev_system.analysis.scores import means_by_name, run_score_stats
from dev_system.record.scores import Score

NAMES = st.sampled_from(["correctness", "faithfulness", "tone"])
TESTS = st.sampled_from(["t.py::a", "t.py::b", "t.py::c[1]", "t.py::d"])
VALUES = st.integers(min_value=-1000, max_value=1000).map(lambda n: n / 100)
SCORES = st.lists(st.tuples(TESTS, NAMES, VALUES), max_size=40)


def as_scores(rows: list[tuple[str, str, float]]) -> list[Score]:
    return [Score(f"id{i}", float(i), "run", test, test, name, value, None) for i, (test, name, value) in enumerate(rows)]


def reference(rows: list[tuple[str, str, float]]) -> dict[str, tuple[Fraction, Fraction, str, int, int]]:
    """name -> (mean of test means, lowest test mean, the first test by id with it, tests, values), exactly."""
    out = {}
    for name in {n for _, n, _ in rows}:
        per_test: dict[str, list[Fraction]] = {}
        for test, n, value in rows:
            if n == name:
                per_test.setdefault(test, []).append(Fraction(value))
        means = {test: sum(vals) / len(vals) for test, vals in per_test.items()}
        lowest = min(means.values())
        out[name] = (sum(means.values()) / len(means), lowest, min(t for t, m in means.items() if m == lowest),
                     len(means), sum(len(v) for v in per_test.values()))
    return out


@given(SCORES)
def test_run_figures_match_the_reference(rows: list[tuple[str, str, float]]) -> None:
    stats = run_score_stats(as_scores(rows))
    expected = reference(rows)
    assert [stat.name for stat in stats] == sorted(expected)
    for stat in stats:
        mean, lowest, lowest_test, tests, values = expected[stat.name]
        assert abs(Fraction(stat.mean) - mean) < Fraction(1, 10**9)
        assert abs(Fraction(stat.min) - lowest) < Fraction(1, 10**9)
        assert (stat.min_nodeid, stat.tests, stat.values) == (lowest_test, tests, values)


@given(st.lists(st.tuples(NAMES, VALUES), min_size=1, max_size=20))
def test_a_tests_value_is_the_mean_of_its_values(rows: list[tuple[str, float]]) -> None:
    means = means_by_name(as_scores([("t.py::a", name, value) for name, value in rows]))
    for name, value in means.items():
        values = [Fraction(v) for n, v in rows if n == name]
        assert abs(Fraction(value) - sum(values) / len(values)) < Fraction(1, 10**9)
    assert list(means) == list(dict.fromkeys(name for name, _ in rows))


def test_a_repeated_value_weighs_once_in_the_run_mean() -> None:
    # test a: 1.0 three times; test b: 0.0 once: the run's mean is 0.5, not 0.75
    stats = run_score_stats(as_scores([("a", "q", 1.0)] * 3 + [("b", "q", 0.0)]))
    assert (stats[0].mean, stats[0].min, stats[0].min_nodeid, stats[0].tests, stats[0].values) == (0.5, 0.0, "b", 2, 4)


def test_scores_outside_a_test_count_by_their_trace() -> None:
    scores = [Score("1", 0.0, None, None, "trace-1", "q", 0.2, None), Score("2", 0.0, None, None, "trace-1", "q", 0.4, None),
              Score("3", 0.0, None, None, "trace-2", "q", 1.0, None)]
    stat = run_score_stats(scores)[0]
    assert (round(stat.mean, 9), stat.min_nodeid, stat.tests) == (0.65, "trace-1", 2)
