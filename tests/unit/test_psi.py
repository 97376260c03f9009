"""The pure pseudonym protocol: commutativity, domain separation, degenerate points."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from protocols.ids import normalise
from protocols.psi import POINT_BYTES, SessionKey, hash_ids


def chain(keys, points):
    for k in keys:
        points, bad = k.blind(points)
        assert not bad
    return points


def test_any_order_gives_the_same_pseudonyms():
    keys = [SessionKey() for _ in range(4)]
    pts = hash_ids("ses-1", "phone", ["13800000000", "13900000001"])
    assert (
        chain(keys, pts)
        == chain(list(reversed(keys)), pts)
        == chain([keys[2], keys[0], keys[3], keys[1]], pts)
    )


def test_domain_separation_by_session_and_type():
    a = hash_ids("ses-1", "phone", ["13800000000"])
    assert a != hash_ids("ses-2", "phone", ["13800000000"])
    assert a != hash_ids("ses-1", "email", ["13800000000"])
    # length-prefixed framing: moving a character between fields changes the hash
    assert hash_ids("ab", "c", ["x"]) != hash_ids("a", "bc", ["x"])


def test_distinct_ids_distinct_pseudonyms():
    keys = [SessionKey() for _ in range(2)]
    ids = [f"13{i:09d}" for i in range(500)]
    out = chain(keys, hash_ids("s", "phone", ids))
    assert len({bytes(out[i : i + 32]) for i in range(0, len(out), 32)}) == 500


def test_low_order_points_are_reported_not_passed_on():
    k = SessionKey()
    one = (1).to_bytes(32, "little")
    good = bytes(hash_ids("s", "phone", ["13800000000"]))
    out, bad = k.blind(bytes(32) + good + one)
    assert bad == [0, 2]
    assert out[:POINT_BYTES] == bytes(32) and out[64:] == bytes(32) and any(out[32:64])


def test_key_repr_hides_the_scalar():
    k = SessionKey()
    assert "fp=" in repr(k) and len(repr(k)) < 40


@given(st.text(alphabet=" -+()0123456789", max_size=20))
def test_phone_normalisation_never_crashes_and_is_canonical(raw):
    out = normalise(pd.Series([raw]), "phone").iloc[0]
    if out is not pd.NA:
        assert len(out) == 11 and out[0] == "1" and out[1] in "3456789" and out.isdigit()


def test_phone_variants_normalise_alike():
    variants = [
        "+86 138 1234 5678",
        "0086-138-1234-5678",
        "86 13812345678",
        "(138) 1234-5678",
        "138.1234.5678",
        "13812345678",
    ]
    assert set(normalise(pd.Series(variants), "phone")) == {"13812345678"}
    assert normalise(pd.Series(["12812345678", "1381234567", "+1 138 1234 5678"]), "phone").isna().all()


def test_email_and_device_ids():
    assert normalise(pd.Series(["  Li.Lei@Example.COM "]), "email").iloc[0] == "li.lei@example.com"
    dev = normalise(
        pd.Series(["6d92078a-8246-4ba4-ae5b-76104861e7dc", "00000000-0000-0000-0000-000000000000"]),
        "device_id",
    )
    assert dev.iloc[0] == "6D92078A-8246-4BA4-AE5B-76104861E7DC" and dev.isna().iloc[1]
