"""API keys: the secret is never stored, tokens authenticate until revoked, bad tokens never do."""

from __future__ import annotations

import psycopg
import pytest

from connectors.postgres.apikeys import (
    ApiKeyError,
    authenticate,
    create_api_key,
    hash_secret,
    list_api_keys,
    parse_token,
    revoke_api_key,
)


def test_secret_is_not_stored_only_its_hash(db: psycopg.Connection) -> None:
    issued = create_api_key(db, "engineer", "line 3 tablet")
    db.commit()
    key_id, secret = parse_token(issued.token)  # type: ignore[misc]
    assert key_id == issued.key.key_id
    row = db.execute("SELECT * FROM api_keys WHERE key_id = %s", (key_id,)).fetchone()
    assert row is not None
    stored = " ".join(str(v) for v in row.values()) + bytes(row["secret_hash"]).hex()
    assert secret not in stored and issued.token not in stored
    assert bytes(row["secret_hash"]) == hash_secret(secret)
    # nothing else in the database holds it either (e.g. the audit log)
    dump = db.execute("SELECT string_agg(t::text, ' ') AS all FROM audit_log t").fetchone()
    assert secret not in (dump["all"] or "")


def test_token_authenticates_until_revoked(db: psycopg.Connection) -> None:
    issued = create_api_key(db, "dispatcher", "dispatch desk")
    key = authenticate(db, issued.token)
    assert key is not None and key.role == "dispatcher" and key.key_id == issued.key.key_id
    assert any(k.key_id == key.key_id for k in list_api_keys(db))
    assert revoke_api_key(db, key.key_id) is True
    assert authenticate(db, issued.token) is None
    assert revoke_api_key(db, key.key_id) is False
    assert all(k.key_id != key.key_id for k in list_api_keys(db))
    assert any(k.key_id == key.key_id and k.revoked_at for k in list_api_keys(db, include_revoked=True))


def test_wrong_or_malformed_tokens_do_not_authenticate(db: psycopg.Connection) -> None:
    issued = create_api_key(db, "erp", "erp system")
    key_id, secret = parse_token(issued.token)  # type: ignore[misc]
    other_secret = ("A" if secret[0] != "A" else "B") + secret[1:]
    for token in (f"mst_{key_id}_{other_secret}", f"mst_000000000000_{secret}", issued.token[:-1],
                  issued.token + "x", "", "Bearer " + issued.token, issued.token.upper(), "mst_\x00"):
        assert authenticate(db, token) is None, token
    assert authenticate(db, issued.token) is not None


def test_unknown_role_and_empty_name_are_refused(db: psycopg.Connection) -> None:
    with pytest.raises(ApiKeyError, match="unknown role 'superuser'"):
        create_api_key(db, "superuser", "x")
    with pytest.raises(ApiKeyError, match="name"):
        create_api_key(db, "admin", "   ")


def test_each_key_gets_a_distinct_secret(db: psycopg.Connection) -> None:
    tokens = {create_api_key(db, "admin", f"k{i}").token for i in range(20)}
    assert len(tokens) == 20
