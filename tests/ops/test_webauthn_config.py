"""HUBWEB_WEBAUTHN_RP_ID: the host of the base URL by default; start-up
refuses an RP id that is not that host or a parent domain of it; the
expected origin is the base URL's origin."""

from __future__ import annotations

import pytest

from hubweb import create_app
from hubweb.config import ConfigError, rp_id_problem
from hubweb.twostep.webauthnchallenges import relying_party
from tests.support.database import base_config


@pytest.mark.parametrize(("rp_id", "host", "ok"), [
    ("portal.example.com", "portal.example.com", True),
    ("example.com", "portal.example.com", True),
    ("EXAMPLE.com", "portal.example.com", True),
    ("com", "portal.example.com", False),
    ("other.com", "portal.example.com", False),
    ("ample.com", "portal.example.com", False),
    ("sub.portal.example.com", "portal.example.com", False),
    ("https://portal.example.com", "portal.example.com", False),
    ("portal.example.com:443", "portal.example.com", False),
])
def test_rp_id_must_be_the_host_or_a_parent_domain(rp_id, host, ok):
    assert (rp_id_problem(rp_id, host) is None) is ok


def test_start_up_refuses_an_rp_id_of_another_site(tmp_path):
    config = {**base_config(tmp_path, tmp_path / "db.sqlite3"), "BASE_URL": "https://portal.example.com",
              "WEBAUTHN_RP_ID": "evil.example", "ALLOW_CONSOLE_BACKENDS": True}
    with pytest.raises(ConfigError, match="HUBWEB_WEBAUTHN_RP_ID"):
        create_app(config)


@pytest.mark.parametrize(("base", "rp", "want"), [
    ("https://portal.example.com", None, ("portal.example.com", "https://portal.example.com")),
    ("https://portal.example.com:443/", None,
     ("portal.example.com", "https://portal.example.com")),
    ("https://Portal.Example.com:8443", "example.com",
     ("example.com", "https://portal.example.com:8443")),
    ("http://127.0.0.1:5000", None, ("127.0.0.1", "http://127.0.0.1:5000")),
])
def test_the_rp_id_and_origin(base, rp, want):
    party = relying_party({"BASE_URL": base, "WEBAUTHN_RP_ID": rp})
    assert (party.rp_id, party.origin) == want
