"""Helpers the tests share, one definition each; fixtures stay in tests/conftest.py."""
