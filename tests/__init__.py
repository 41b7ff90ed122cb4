"""hubweb's tests, by rule area (see tests/README.md)."""
