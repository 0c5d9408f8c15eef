"""The ID token's ``at_hash`` binds it to the access token it came with (OIDC Core 3.1.3.6)."""

from __future__ import annotations

import pytest
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt

from hub.security.oidc import IdTokenError
from hub.sso.provider import check_at_hash, half_hash
from tests.fakes.oidc_provider import new_key

SPEC_ACCESS_TOKEN = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"  # OIDC Core, appendix A.3


def test_the_half_hash_is_the_spec_s_example_and_authlib_s_for_every_algorithm() -> None:
    assert half_hash(SPEC_ACCESS_TOKEN, "RS256") == "77QmUPtjPfzWtF2AnpK9RQ"
    for alg in ("RS256", "PS256", "ES256", "RS384", "ES384", "RS512", "PS512", "EdDSA"):
        assert half_hash(SPEC_ACCESS_TOKEN, alg) == create_half_hash(SPEC_ACCESS_TOKEN, alg).decode(), alg


def _id_token(**claims: str) -> str:
    key = new_key()
    return jwt.encode({"alg": "RS256", "kid": key.kid}, {"sub": "ada-1", **claims}, key)


def test_a_matching_or_absent_at_hash_is_accepted() -> None:
    token = _id_token(at_hash="77QmUPtjPfzWtF2AnpK9RQ")
    check_at_hash(token, {"at_hash": "77QmUPtjPfzWtF2AnpK9RQ"}, SPEC_ACCESS_TOKEN)
    check_at_hash(_id_token(), {}, SPEC_ACCESS_TOKEN)


@pytest.mark.parametrize(("at_hash", "access_token"), [("77QmUPtjPfzWtF2AnpK9RQ", "a-swapped-access-token"),
                                                       ("77QmUPtjPfzWtF2AnpK9Rq", SPEC_ACCESS_TOKEN),
                                                       ("77QmUPtjPfzWtF2AnpK9RQ", None)])  # fmt: skip
def test_an_at_hash_not_matching_the_access_token_is_refused(at_hash: str, access_token: str | None) -> None:
    with pytest.raises(IdTokenError, match="at_hash"):
        check_at_hash(_id_token(at_hash=at_hash), {"at_hash": at_hash}, access_token)
