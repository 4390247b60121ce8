"""The mutation-testing harness: `python -m tests.mutation` (see docs/testing.md)."""
