"""A software security key (ES256, on ``cryptography`` and ``cbor2``) for the
server-side WebAuthn tests: it answers creation and request options (the JSON
the page holds in ``#webauthn-options``) as a browser would post them, in the
Level 3 ``toJSON()`` form, and can be told to misbehave (another origin or RP
id, no user presence, a counter that does not move)."""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import struct

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

ORIGIN = "http://127.0.0.1:5000"
RP_ID = "127.0.0.1"


def b64u(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def options_of(page: str) -> dict:
    """The JSON of ``<script type="application/json" id="webauthn-options">``."""
    found = re.search(r'<script type="application/json" id="webauthn-options"[^>]*>(.*?)'
                      r"</script>", page, re.S)
    assert found, "no webauthn-options in the page"
    return json.loads(html.unescape(found[1]) if "&#" in found[1] else found[1])


class SoftKey:
    """One credential on a software authenticator (ES256).

    :ivar counter: the signature counter; each assertion adds ``step`` (0:
        a synced passkey that keeps none).
    """

    def __init__(self, step: int = 1):
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.counter = 0
        self.step = step

    def _cose(self) -> bytes:
        numbers = self.private.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    def _auth_data(self, rp_id: str, flags: int, attested: bool) -> bytes:
        data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags])
        data += struct.pack(">I", self.counter)
        if attested:
            data += bytes(16) + struct.pack(">H", len(self.credential_id))
            data += self.credential_id + self._cose()
        return data

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin,
                           "crossOrigin": False}).encode()

    def create(self, options: dict, *, origin: str = ORIGIN, rp_id: str | None = None,
               presence: bool = True) -> str:
        """The ``credential`` a browser posts after ``navigator.credentials.create``."""
        rp_id = rp_id or options["rp"]["id"]
        flags = (0x01 if presence else 0) | 0x40
        auth_data = self._auth_data(rp_id, flags, attested=True)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client = self._client_data("webauthn.create", options["challenge"], origin)
        return json.dumps({
            "id": b64u(self.credential_id), "rawId": b64u(self.credential_id),
            "type": "public-key", "authenticatorAttachment": "cross-platform",
            "clientExtensionResults": {},
            "response": {"clientDataJSON": b64u(client),
                         "attestationObject": b64u(attestation),
                         "transports": ["usb"]}})

    def get(self, options: dict, *, origin: str = ORIGIN, rp_id: str | None = None,
            presence: bool = True, advance: bool = True) -> str:
        """The ``credential`` a browser posts after ``navigator.credentials.get``."""
        if advance:
            self.counter += self.step
        auth_data = self._auth_data(rp_id or options["rpId"], 0x01 if presence else 0,
                                    attested=False)
        client = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.private.sign(auth_data + hashlib.sha256(client).digest(),
                                      ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": b64u(self.credential_id), "rawId": b64u(self.credential_id),
            "type": "public-key", "authenticatorAttachment": "cross-platform",
            "clientExtensionResults": {},
            "response": {"clientDataJSON": b64u(client), "authenticatorData": b64u(auth_data),
                         "signature": b64u(signature), "userHandle": None}})


def add_key(client, key: SoftKey, name: str = "Blue YubiKey", *, password: str | None = None,
            **create):
    """ "Add security key" in the settings of the signed-in ``client`` (plain
    forms, as without htmx): the password, the key panel, the browser's answer.

    :return: the settings page the browser ends on.
    """
    from tests.support.accounts import PASSWORD, csrf_token
    from tests.support.sms import post, settle

    token = csrf_token(client, "/settings/account")
    settle(client, post(client, "/settings/two-step/webauthn/start", token=token))
    panel = settle(client, post(client, "/settings/two-step/webauthn/password",
                                {"password": password or PASSWORD}, token=token))
    options = options_of(panel.get_data(as_text=True))
    credential = key.create(options, **create)
    return settle(client, post(client, "/settings/two-step/webauthn/code",
                               {"name": name, "credential": credential}, token=token))
