"""Real-browser tests (issue 5): Chromium via Playwright against a live hubweb."""
