"""The support agent's tests: each question's answer must hold the facts it needs.

A test records how many of the expected facts the answer holds as the score ``correctness`` and
fails only when the answer holds none of them: a slightly worse answer passes, and its lower score
shows in the run's summary, in ``dev-system history`` and in the gate.
"""

import pytest
from support_agent import answer

CASES = {
    "refund": ("Can I get my money back? I bought it last week.", ["30 days", "original payment method"]),
    "password": ("I forgot my password, what do I do?", ["Forgot password", "1 hour"]),
    "pricing": ("How much is the Team plan?", ["$12", "per user"]),
    "export": ("How can I export my data?", ["Settings > Export", "CSV"]),
    "outage": ("Is there an outage right now?", ["status.acme.example", "10 minutes"]),
}


@pytest.mark.parametrize("topic", sorted(CASES))
def test_answers_hold_the_facts(topic, telemetry):
    question, facts = CASES[topic]
    reply = answer(question)
    found = sum(fact in reply for fact in facts)
    telemetry.score("correctness", found / len(facts))
    assert found, f"the answer holds none of {facts}: {reply!r}"


@pytest.mark.telemetry_budget(max_calls=1, max_cost_usd=0.01)
def test_a_question_costs_one_call_within_budget(telemetry):
    assert "4 business hours" in answer("How fast does support answer?")
    assert telemetry.calls == 1
