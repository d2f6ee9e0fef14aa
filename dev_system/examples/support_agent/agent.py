"""A support agent for Acme Cloud: it answers a customer's question with one model call.

The OpenAI client reads OPENAI_BASE_URL and OPENAI_API_KEY from the environment; the demo points
them at a local fake provider. The agent knows what its system prompt tells it.
"""

from openai import OpenAI

MODEL = "gpt-4o"

SYSTEM_PROMPT = """You are the support agent of Acme Cloud. Answer in two sentences at most,
politely, in plain words, and only from the facts below. Never guess a price, a date or a
policy. When the facts do not answer the question, say so and offer to hand the customer over to
a person, who will follow up by email. Thank the customer for their patience, and never share
one customer's data with another.

FACT refund: Refunds are possible within 30 days of purchase, to the original payment method.
FACT password: A password is reset from the sign-in page with the "Forgot password" link; the link expires in 1 hour.
FACT pricing: The Team plan costs $12 per user per month; the Business plan costs $25 per user per month.
FACT export: Data is exported from Settings > Export as CSV or JSON; large exports arrive by email.
FACT outage: The status page is status.acme.example; incidents are posted there within 10 minutes.
FACT support: Support answers within 4 business hours by chat, and within 1 business day by email.
"""


def answer(question: str) -> str:
    """The agent's answer to a customer's question."""
    client = OpenAI(max_retries=0)
    response = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}],
    )
    return response.choices[0].message.content or ""
