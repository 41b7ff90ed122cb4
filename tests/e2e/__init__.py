"""Real-browser tests: Chromium via Playwright against a live hubweb."""
