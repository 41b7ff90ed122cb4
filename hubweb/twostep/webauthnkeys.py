"""Security keys and passkeys (WebAuthn) as a second factor.

Every check of a signature, origin, RP id, type, challenge and flag is done
by py_webauthn (``webauthn`` 3.x from PyPI), never here; this module keeps
the rules of the portal around it:

- One ``authenticators`` row per key (kind ``webauthn``): ``name`` is the
  person's nickname (unique per account, 1-64 characters); ``lookup`` the
  credential id in base64url (its SHA-256, hex, when longer than 255
  characters); ``data`` the COSE public key (base64url), the transports and
  the account's random user handle; ``last_step`` the signature counter.
  At most :data:`MAX_KEYS` (10) keys per account.
- The user handle is 32 random bytes per account, not the email (WebAuthn
  Level 3 section 14.6.1, "User Handle Contents"); every key of the account
  carries the same one in its ``data``; an account without keys gets a new one.
- Registration: ``attestation="none"``, ``userVerification="discouraged"``
  (a second factor: presence only, section 6.2.3), ``residentKey="preferred"``
  (passkeys where the authenticator can), ``excludeCredentials`` = the
  account's keys, EdDSA, ES256 and RS256.
- The expected origin, the RP id and the challenges (server-side, single
  use, 5 minutes) are :mod:`.webauthnchallenges`'s.
- Signature counter (section 6.1.1, 7.2 step 21): both 0 is accepted
  (synced passkeys keep no counter); otherwise the new count must be greater
  than the stored one, else the key may be cloned: refused, a
  ``key_counter`` security event, an email.
"""

from __future__ import annotations

import hashlib
import json
import secrets

import sqlalchemy as sa
from flask import current_app
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from .. import events, mail
from ..extensions import db
from ..i18n import lazy_text as _l
from ..models import Authenticator, User
from ..timeutil import utcnow
from . import throttle
from .factorbase import FactorBase
from .result import Problem, Result
from .store import remove_all
from .webauthnchallenges import (
    ANSWER_MAX,
    CHALLENGE_SECONDS,
    new_challenge,
    parse,
    relying_party,
    take_challenge,
)

KIND = "webauthn"
#: Most keys one account may have (this project's choice, as GitHub's and
#: Google's lists stay short; each is one row checked at every sign-in).
MAX_KEYS = 10
NAME_MAX = 64
#: The algorithms offered, in order of preference (COSE ids -8, -7, -257).
ALGORITHMS = [COSEAlgorithmIdentifier.EDDSA, COSEAlgorithmIdentifier.ECDSA_SHA_256,
              COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256]

NAME_MISSING = _l("Enter a name for the key, up to 64 characters.")
NAME_TAKEN = _l("You already have a key with this name. Choose another name.")
ADDED = _l("Your security key was added.")
REMOVED = _l("The security key was removed.")
ADDED_SUBJECT = _l("A security key was added to your account")
REMOVED_SUBJECT = _l("A security key was removed from your account")
CLONED_SUBJECT = _l("One of your security keys may have been copied")


# -- the keys --------------------------------------------------------------------------


def keys(user: User) -> list[Authenticator]:
    """The account's keys, oldest first."""
    return sorted((row for row in user.authenticators if row.kind == KIND),
                  key=lambda row: (row.created_at, row.id))


def key_data(row: Authenticator) -> dict:
    """A key's public data: ``public_key``, ``transports``, ``user_handle``."""
    return json.loads(row.data or "{}")


def lookup_of(credential_id: bytes) -> str:
    """The indexed ``lookup`` of a credential id: its base64url, or its SHA-256
    (hex) when that is longer than the column's 255 characters."""
    text = bytes_to_base64url(credential_id)
    return text if len(text) <= 255 else hashlib.sha256(credential_id).hexdigest()


def _user_handle(user: User) -> bytes:
    for row in keys(user):
        handle = key_data(row).get("user_handle")
        if handle:
            return base64url_to_bytes(handle)
    return secrets.token_bytes(32)


def _descriptors(user: User) -> list[PublicKeyCredentialDescriptor]:
    out = []
    for row in keys(user):
        data = key_data(row)
        transports = []
        for name in data.get("transports", []):
            try:
                transports.append(AuthenticatorTransport(name))
            except ValueError:
                continue  # a transport this library version does not name
        out.append(PublicKeyCredentialDescriptor(id=base64url_to_bytes(data["credential_id"]),
                                                 transports=transports or None))
    return out


def name_problem(user: User, name: str | None) -> str | None:
    """Why ``name`` cannot name a new key of ``user`` (1-64 characters after
    trimming, unique per account, case-insensitively), or ``None``."""
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        return NAME_MISSING
    if any(row.name.casefold() == name.casefold() for row in keys(user)):
        return NAME_TAKEN
    return None


# -- registration ----------------------------------------------------------------------


def creation_options(user: User) -> str:
    """``PublicKeyCredentialCreationOptionsJSON`` for a new key of ``user`` (a new
    challenge is kept in the session)."""
    rp = relying_party()
    options = generate_registration_options(
        rp_id=rp.rp_id, rp_name=current_app.config["PORTAL_NAME"],
        user_name=user.email, user_display_name=user.email, user_id=_user_handle(user),
        challenge=new_challenge(user, "register"), timeout=CHALLENGE_SECONDS * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.DISCOURAGED),
        exclude_credentials=_descriptors(user), supported_pub_key_algs=ALGORITHMS)
    return options_to_json(options)


def register(user: User, name: str, answer: str | None) -> Result:
    """Check the browser's answer to :func:`creation_options` and add the key
    named ``name`` (checked by :func:`name_problem` first). The caller records,
    emails and commits (:func:`hubweb.twostep.changes.add_security_key`).

    :return: ``KEY_MISSING`` (no answer: no JavaScript, or cancelled),
        ``KEY_LIMIT``, ``KEY_EXPIRED`` (challenge unknown, used or old),
        ``KEY_REFUSED`` (the library refused it: origin, RP id, flags...),
        ``KEY_KNOWN`` (this key is registered already), else ok.
    """
    credential = parse(answer)
    if credential is None:
        return Result(Problem.KEY_MISSING)
    if len(keys(user)) >= MAX_KEYS:
        return Result(Problem.KEY_LIMIT)
    challenge = take_challenge(user, "register", credential)
    if challenge is None:
        return Result(Problem.KEY_EXPIRED)
    rp = relying_party()
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.rp_id,
            expected_origin=rp.origin, require_user_presence=True,
            require_user_verification=False, supported_pub_key_algs=ALGORITHMS)
    except (WebAuthnException, AttributeError, KeyError, TypeError, ValueError):
        return Result(Problem.KEY_REFUSED)
    lookup = lookup_of(verified.credential_id)
    if db.session.scalar(sa.select(Authenticator.id).where(
            Authenticator.kind == KIND, Authenticator.lookup == lookup)) is not None:
        return Result(Problem.KEY_KNOWN)
    transports = credential["response"].get("transports") or []
    data = {"credential_id": bytes_to_base64url(verified.credential_id),
            "public_key": bytes_to_base64url(verified.credential_public_key),
            "transports": [t for t in transports if isinstance(t, str)][:8],
            "user_handle": bytes_to_base64url(_user_handle(user))}
    now = utcnow()
    user.authenticators.append(Authenticator(
        kind=KIND, name=name.strip(), lookup=lookup, data=json.dumps(data), created_at=now,
        enabled_at=now, last_step=verified.sign_count))
    db.session.flush()
    return Result()


def has_credential(user: User, answer: str | None) -> bool:
    """True when the credential in ``answer`` is one of ``user``'s keys (read
    again from the database): a parallel request of the same click added it."""
    credential = parse(answer)
    try:
        lookup = lookup_of(base64url_to_bytes(credential.get("rawId") or credential["id"]))
    except (AttributeError, KeyError, TypeError, ValueError):
        return False
    return db.session.scalar(sa.select(Authenticator.id).where(
        Authenticator.user_id == user.id, Authenticator.kind == KIND,
        Authenticator.lookup == lookup)) is not None


def remove(user: User, key_id: int) -> str | None:
    """Delete ``user``'s key ``key_id`` by one conditional ``DELETE`` (of two
    parallel requests one deletes it). The caller commits.

    :return: the removed key's name (for the event and email), or ``None``
        when it is not (or no longer) there.
    """
    row = next((r for r in keys(user) if r.id == key_id), None)
    if row is None:
        return None
    name = row.name
    gone = db.session.execute(
        sa.delete(Authenticator).where(Authenticator.id == key_id,
                                       Authenticator.user_id == user.id,
                                       Authenticator.kind == KIND),
        execution_options={"synchronize_session": False}).rowcount
    db.session.expire(user, ["authenticators"])
    return name if gone == 1 else None


# -- the second step -------------------------------------------------------------------


def request_options(user: User, purpose: str) -> str:
    """``PublicKeyCredentialRequestOptionsJSON`` for the second step of
    ``purpose`` (``sign_in``, ``recovery``): ``allowCredentials`` = the account's
    keys, a new challenge kept in the session."""
    options = generate_authentication_options(
        rp_id=relying_party().rp_id, challenge=new_challenge(user, purpose),
        timeout=CHALLENGE_SECONDS * 1000, allow_credentials=_descriptors(user),
        user_verification=UserVerificationRequirement.DISCOURAGED)
    return options_to_json(options)


def check(user: User, answer: str | None, purpose: str) -> Result:
    """Check the browser's answer to :func:`request_options`. The caller
    commits on success; a refusal commits what it records itself.

    :return: ``KEY_MISSING``, ``THROTTLED``, ``KEY_EXPIRED``, ``KEY_UNKNOWN``
        (not a key of this account: another account's, or removed),
        ``KEY_REFUSED`` (wrong origin, RP id, signature, no user presence),
        ``KEY_CLONED`` (the counter did not go up; event and email), else ok.
    """
    credential = parse(answer)
    if credential is None:
        return Result(Problem.KEY_MISSING)
    wait = throttle.wait_seconds(user)
    if wait:
        return Result(Problem.THROTTLED, wait)
    challenge = take_challenge(user, purpose, credential)
    if challenge is None:
        return Result(Problem.KEY_EXPIRED)
    try:
        lookup = lookup_of(base64url_to_bytes(credential.get("rawId") or credential["id"]))
    except (AttributeError, KeyError, TypeError, ValueError):
        return throttle.failed(user, Problem.KEY_REFUSED)
    row = next((r for r in keys(user) if r.lookup == lookup), None)
    if row is None:
        return throttle.failed(user, Problem.KEY_UNKNOWN)
    stored = row.last_step or 0
    rp = relying_party()
    try:
        # The counter rule is checked below, where a refusal can be recorded:
        # the library is told 0, which makes it skip only that comparison.
        verified = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.rp_id,
            expected_origin=rp.origin, credential_public_key=base64url_to_bytes(
                key_data(row)["public_key"]),
            credential_current_sign_count=0, require_user_verification=False)
    except (WebAuthnException, AttributeError, KeyError, TypeError, ValueError):
        return throttle.failed(user, Problem.KEY_REFUSED)
    new = verified.new_sign_count
    if (new > 0 or stored > 0) and new <= stored:
        _counter_refused(user, row)
        return Result(Problem.KEY_CLONED)
    changed = db.session.execute(
        sa.update(Authenticator)
        .where(Authenticator.id == row.id,
               sa.func.coalesce(Authenticator.last_step, 0) == stored)
        .values(last_step=new, last_used_at=utcnow()),
        execution_options={"synchronize_session": False}).rowcount
    if changed != 1:  # a parallel answer of the same key moved the counter first
        db.session.rollback()
        return Result(Problem.KEY_EXPIRED)
    throttle.record_success(user)
    return Result()


def _counter_refused(user: User, row: Authenticator) -> None:
    """Record a possibly cloned key (event ``key_counter``) and email the owner."""
    events.record(user, "key_counter")
    mail.queue(user, CLONED_SUBJECT, "key_counter", key_name=row.name)
    db.session.commit()


class SecurityKeyFactor(FactorBase):
    """Security keys and passkeys (:class:`hubweb.twostep.factors.Factor`);
    only on top of SMS. Its answer is the ``credential`` field, filled by
    ``static/webauthn.js``; :meth:`challenge` gives the page its options."""

    #: The most keys an account may have (the settings list says it).
    max_keys = MAX_KEYS

    def is_on(self, user: User) -> bool:
        return bool(keys(user))

    def keys(self, user: User) -> list[Authenticator]:
        """The account's keys, oldest first (the settings list)."""
        return keys(user)

    def challenge(self, user: User, purpose: str) -> str:
        """The request options (JSON text) the page holds for the browser."""
        return request_options(user, purpose)

    def verify(self, user: User, answer: str | None, purpose: str) -> Result:
        return check(user, answer, purpose)

    def disable(self, user: User) -> None:
        remove_all(user, KIND)


FACTOR = SecurityKeyFactor(
    key=KIND, name=_l("security key"), switch_label=_l("Use security key"),
    template="twostep/_webauthn_input.html", choice_name=_l("a security key"),
    lost_text=_l("No access to your security key?"),
    switch_hint=_l('Choose "Use security key" if you have a security key or passkey.'),
    numeric=False, answer_field="credential", answer_label=_l("Security key answer"),
    answer_missing=_l("Security keys need JavaScript. Turn it on in this browser, or "
                      "choose another method."),
    answer_max=ANSWER_MAX, answer_hidden=True)
