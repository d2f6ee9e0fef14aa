"""An example project for the demo: a support agent, its test suite, and a fake provider.

``agent.py`` and ``agent_tests.py`` are the files of a small project that the demo copies to a
folder of its own (as ``support_agent.py`` and ``test_support_agent.py``) and runs under
``pytest --telemetry``; ``provider.py`` is the local OpenAI-compatible server its model calls go
to, so that nothing needs a key or a network.
"""
