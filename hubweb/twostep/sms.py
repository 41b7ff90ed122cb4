"""SMS senders (console, HTTP gateway, Twilio) and the one-time code message text.

No Flask app here: :func:`build_sender` takes a plain mapping of config values (``SMS_*``
and ``TWILIO_*`` keys, see the settings table in the project contract). The code message
is said through the catalog (Flask-Babel): in the language forced by the caller, English
outside an app. Phone numbers are
E.164 strings (ITU-T E.164, as produced by ``hubweb.twostep.phone.parse_phone``).

:class:`SmsError` messages go to the operator log and never contain the SMS body (which
holds a code). Only :class:`ConsoleSms`, the development backend, logs bodies.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask_babel import ngettext

DEFAULT_TIMEOUT = 10.0  # seconds
#: The longest host (of ``BASE_URL``) and portal name allowed (hubweb.config): with
#: them, the code message fits one SMS in every language (GSM-7 within 160
#: characters, else UCS-2 within 70; checked by a test over every catalog).
MAX_HOST = 20
MAX_PORTAL = 12
CONSOLE_LOGGER = "hubweb.sms.console"


class SmsError(Exception):
    """Sending failed: gateway error, refusal, timeout or unreachable gateway.

    The message is for the operator log; it names the failure (e.g. the HTTP status)
    but never the SMS body or a code.
    """


class SmsSender(Protocol):
    """Anything that can send one SMS."""

    def send(self, to_e164: str, body: str) -> None:
        """Send ``body`` to the E.164 number ``to_e164``; raise :class:`SmsError` on failure."""
        ...


class ConsoleSms:
    """Development backend: records the message in the development outbox and logs
    that it did.

    The log line (INFO, ``hubweb.sms.console``) names the masked number and the
    outbox, never the text or the full number: codes and phone numbers stay out
    of logs, even in development. The message itself goes to ``record(to, body)``.

    :param record: callable ``(to_e164, body) -> None``; the app stores into its outbox.
    :param logger: logger to use; defaults to ``logging.getLogger("hubweb.sms.console")``.
    """

    def __init__(
        self, record: Callable[[str, str], None], logger: logging.Logger | None = None
    ) -> None:
        self.record = record
        self.logger = logger or logging.getLogger(CONSOLE_LOGGER)

    def send(self, to_e164: str, body: str) -> None:
        """Log and record the message. Never raises :class:`SmsError`."""
        from .phone import mask_phone

        self.logger.info("SMS to %s: kept in the development outbox", mask_phone(to_e164))
        self.record(to_e164, body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError for the 3xx status


class HttpSms:
    """Generic HTTP gateway: ``POST url`` with JSON ``{"to": "+E164", "body": "text"}``.

    Sends ``Content-Type: application/json`` and, when ``token`` is set,
    ``Authorization: Bearer <token>``. Any 2xx answer is success. Redirects are not
    followed (a 3xx is a failure), so the body and token never go to another host.

    :param url: ``http://`` or ``https://`` URL of the gateway.
    :param token: bearer token, or None to send no Authorization header.
    :param timeout: seconds allowed for connecting and for each read of the answer.
    :raises ValueError: for a URL that is not http(s) or has no host.
    """

    def __init__(self, url: str, token: str | None, timeout: float = DEFAULT_TIMEOUT) -> None:
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("SMS_HTTP_URL must be an http:// or https:// URL")
        if timeout <= 0:
            raise ValueError("SMS_HTTP_TIMEOUT must be a positive number of seconds")
        self.url = url
        self.token = token or None
        self.timeout = float(timeout)
        self._opener = urllib.request.build_opener(_NoRedirect())

    def send(self, to_e164: str, body: str) -> None:
        """POST the message. :raises SmsError: on non-2xx, timeout or connection error."""
        data = json.dumps({"to": to_e164, "body": body}).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "hubweb-sms/1"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            exc.close()
            raise SmsError(f"SMS gateway answered HTTP {exc.code}") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise SmsError(f"SMS gateway timed out after {self.timeout:g} s") from exc
            raise SmsError(f"SMS gateway unreachable: {exc.reason}") from exc
        except TimeoutError as exc:
            raise SmsError(f"SMS gateway timed out after {self.timeout:g} s") from exc
        except (http.client.HTTPException, OSError) as exc:
            raise SmsError(f"SMS gateway connection failed: {type(exc).__name__}: {exc}") from exc
        if not 200 <= status < 300:  # urllib only returns 2xx here; be explicit anyway
            raise SmsError(f"SMS gateway answered HTTP {status}")


class TwilioSms:
    """Twilio Programmable Messaging via the ``twilio`` library (imported on first send).

    :param account_sid: Twilio account SID (``AC...``), also the API username.
    :param auth_token: Twilio auth token.
    :param from_number: sender: an E.164 Twilio number, or a messaging service/alphanumeric
        sender accepted by Twilio as ``From``.
    :param timeout: seconds per HTTP request (``TwilioHttpClient(timeout=...)``).
    :param base_url: optional API base URL replacing ``https://api.twilio.com`` (the public
        ``Domain.base_url`` attribute of ``client.api``), e.g. for a test double or proxy.
    :raises ValueError: when a credential or the sender is missing.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        base_url: str | None = None,
    ) -> None:
        if not (account_sid and auth_token and from_number):
            raise ValueError("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM are required")
        if timeout <= 0:
            raise ValueError("the Twilio timeout must be a positive number of seconds")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.timeout = float(timeout)
        self.base_url = base_url
        self._client: Any = None

    def _get_client(self) -> Any:
        if self._client is None:
            from twilio.http.http_client import TwilioHttpClient
            from twilio.rest import Client

            client = Client(
                self.account_sid,
                self.auth_token,
                http_client=TwilioHttpClient(timeout=self.timeout),
            )
            if self.base_url:
                client.api.base_url = self.base_url
            self._client = client
        return self._client

    def send(self, to_e164: str, body: str) -> None:
        """Create the message. :raises SmsError: on refusal, HTTP error, timeout or network."""
        from requests import RequestException
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            self._get_client().messages.create(to=to_e164, from_=self.from_number, body=body)
        except TwilioRestException as exc:
            raise SmsError(
                f"Twilio refused the message: HTTP {exc.status}, Twilio error {exc.code}"
            ) from exc
        except (TwilioException, RequestException, OSError) as exc:
            raise SmsError(f"Twilio request failed: {type(exc).__name__}: {exc}") from exc


def build_sender(cfg: Mapping[str, Any], record: Callable[[str, str], None]) -> SmsSender:
    """Build the sender chosen by ``cfg["SMS_BACKEND"]`` (``console``, ``http``, ``twilio``).

    Keys: ``SMS_HTTP_URL``, ``SMS_HTTP_TOKEN``, ``SMS_HTTP_TIMEOUT`` (seconds, default 10)
    for ``http``; ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``, ``TWILIO_FROM`` for
    ``twilio``. ``record`` is passed to :class:`ConsoleSms` only.

    :raises ValueError: for an unknown backend or missing/invalid settings of the chosen one.
    """
    backend = str(cfg.get("SMS_BACKEND") or "console").strip().lower()
    timeout = float(cfg.get("SMS_HTTP_TIMEOUT") or DEFAULT_TIMEOUT)
    if backend == "console":
        return ConsoleSms(record)
    if backend == "http":
        return HttpSms(cfg.get("SMS_HTTP_URL") or "", cfg.get("SMS_HTTP_TOKEN"), timeout)
    if backend == "twilio":
        return TwilioSms(
            cfg.get("TWILIO_ACCOUNT_SID") or "",
            cfg.get("TWILIO_AUTH_TOKEN") or "",
            cfg.get("TWILIO_FROM") or "",
            timeout,
        )
    raise ValueError(f"SMS_BACKEND must be console, http or twilio, not {backend!r}")


#: One SMS segment: 160 GSM 7-bit septets, else 70 UCS-2 code units (3GPP TS 23.038).
GSM7_SEGMENT, UCS2_SEGMENT = 160, 70


def gsm_septets(text: str) -> int | None:
    """The GSM 7-bit septets of ``text`` (codec ``gsm0338``), or None when a
    character is not in the GSM 03.38 alphabet (the SMS then goes as UCS-2)."""
    import gsm0338  # noqa: F401 - registers the "gsm03.38" codec

    try:
        return len(text.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


def ucs2_units(text: str) -> int:
    """The UCS-2 (UTF-16) code units of ``text``; a character beyond the BMP takes two."""
    return len(text.encode("utf-16-be")) // 2


def fits_one_segment(text: str) -> bool:
    """True when ``text`` goes as one SMS: GSM-7 within 160 septets, else UCS-2 within 70."""
    septets = gsm_septets(text)
    if septets is not None:
        return septets <= GSM7_SEGMENT
    return ucs2_units(text) <= UCS2_SEGMENT


def otc_host(base_url: str) -> str:
    """The host for the origin-bound code line: the hostname of ``base_url``, without port.

    WICG "Origin-bound one-time codes delivered via SMS" turns ``@host`` into the origin
    ``("https", host, null)`` and matches it "same site" with the page, so a port has no
    place in it; ``http://127.0.0.1:5000`` gives ``127.0.0.1``.

    :raises ValueError: when ``base_url`` has no hostname.
    """
    host = urlsplit(base_url).hostname
    if not host:
        raise ValueError(f"BASE_URL has no host: {base_url!r}")
    return f"[{host}]" if ":" in host else host


def code_message(*, portal: str, code: str, minutes: int, base_url: str) -> str:
    """The SMS text carrying a one-time code, ending with the origin-bound code line.

    The last line is ``@<host> #<code>`` per WICG "Origin-bound one-time codes delivered
    via SMS" (https://wicg.github.io/sms-one-time-codes/), so browsers can autofill the
    code only on the portal's own site. About 155 GSM-7 characters for a 12-character
    portal name and host.

    :param portal: portal name shown to the person (e.g. the TOTP issuer).
    :param code: the one-time code (digits).
    :param minutes: lifetime of the code in minutes.
    :param base_url: the portal's ``BASE_URL``; see :func:`otc_host`.
    """
    text = ngettext(
        "%(portal)s: your verification code is %(code)s. It expires in %(num)d minute. "
        "Do not share it with anyone; we will never ask for it.",
        "%(portal)s: your verification code is %(code)s. It expires in %(num)d minutes. "
        "Do not share it with anyone; we will never ask for it.",
        minutes, portal=portal, code=code)
    return f"{text}\n\n@{otc_host(base_url)} #{code}"
