"""Emailed-link tokens are kept out of access logs; other paths stay readable."""

import logging

import pytest

from hubweb.logredact import RedactFilter, redact

TOKEN = "Qk7c0m6bN1xv2Jr9sY3tW5uZ8aD4eF6gH0iK2lM4nO6"  # 43 characters, token_urlsafe(32)


@pytest.mark.parametrize(("line", "expected"), [
    (f'"GET /reset-password/{TOKEN} HTTP/1.1" 200',
     '"GET /reset-password/[redacted] HTTP/1.1" 200'),
    (f'"POST /reset-password/{TOKEN}/resend HTTP/1.1" 429',
     '"POST /reset-password/[redacted]/resend HTTP/1.1" 429'),
    (f'"POST /reset-password/{TOKEN}/method?x=1 HTTP/1.1" 200',
     '"POST /reset-password/[redacted]/method?x=1 HTTP/1.1" 200'),
    (f'"GET /confirm-email/{TOKEN} HTTP/1.1" 200', '"GET /confirm-email/[redacted] HTTP/1.1" 200'),
    # The resend route has no token: it stays as it is, so logs tell the two apart.
    ('"POST /confirm-email/resend HTTP/1.1" 200', '"POST /confirm-email/resend HTTP/1.1" 200'),
    ('"POST /confirm-email/resend?next=/ HTTP/1.1" 200',
     '"POST /confirm-email/resend?next=/ HTTP/1.1" 200'),
    # A token that merely starts with "resend" is still a token.
    ('"GET /confirm-email/resendXYZ123 HTTP/1.1" 404',
     '"GET /confirm-email/[redacted] HTTP/1.1" 404'),
    ('"GET /settings/account HTTP/1.1" 200', '"GET /settings/account HTTP/1.1" 200'),
])
def test_redact(line, expected):
    assert redact(line) == expected


def test_filter_rewrites_the_formatted_message():
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1,
                               '%s "GET /reset-password/%s HTTP/1.1"', ("127.0.0.1", TOKEN), None)
    assert RedactFilter().filter(record) is True
    assert record.getMessage() == '127.0.0.1 "GET /reset-password/[redacted] HTTP/1.1"'
    assert TOKEN not in record.getMessage()
