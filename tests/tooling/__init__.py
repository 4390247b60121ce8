"""Tests of the test tooling in tests/support/: the stand-in provider and the fixture recorder."""
