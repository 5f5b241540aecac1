"""Passwords and bearer tokens."""

from __future__ import annotations

from server.auth.secrets import (
    hash_password,
    needs_rehash,
    new_stream_key,
    new_token,
    token_hash,
    verify_password,
)


def test_password_round_trip() -> None:
    hashed = hash_password("correct horse")
    assert hashed != "correct horse" and hashed.startswith("$argon2")
    assert verify_password(hashed, "correct horse")
    assert not needs_rehash(hashed)


def test_same_password_hashes_differently() -> None:
    assert hash_password("same password") != hash_password("same password")


def test_wrong_password() -> None:
    hashed = hash_password("correct horse")
    assert not verify_password(hashed, "correct horsE")
    assert not verify_password(hashed, "")


def test_missing_or_broken_hash() -> None:
    assert not verify_password(None, "anything")
    assert not verify_password(None, "kelian-no-such-user")  # the dummy's own password
    assert not verify_password("", "anything")
    assert not verify_password("not-a-hash", "anything")


def test_tokens_are_distinct_and_prefixed() -> None:
    tokens = {new_token("kt") for _ in range(100)}
    assert len(tokens) == 100
    assert all(t.startswith("kt_") and len(t) > 40 for t in tokens)
    assert new_token("ka").startswith("ka_")


def test_token_hash_is_stable_hex() -> None:
    token = new_token("ks")
    digest = token_hash(token)
    assert digest == token_hash(token)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest != token_hash(new_token("ks"))
    assert token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_stream_keys() -> None:
    keys = {new_stream_key() for _ in range(50)}
    assert len(keys) == 50 and all(len(k) == 32 for k in keys)
