"""The web layer: htmx, headers, cookies, CSRF, error pages, bad input, prompts."""
