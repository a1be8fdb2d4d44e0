# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The token record (_token): when it is usable, and what it shows."""

from __future__ import annotations

import pytest

from ansible_collections.telenor.oauth.plugins.module_utils._token import TokenRecord

TOKEN = "AT-Rk3Jd9Wq-unit"
REFRESH = "RT-Vb7Ng1Ls-unit"
REQUESTED_AT = 1_700_000_000.0


def _record(lifetime: int, *, issued_at: float = REQUESTED_AT) -> TokenRecord:
    return TokenRecord(
        access_token=TOKEN,
        token_type="Bearer",
        expires_at=issued_at + lifetime,
        issued_at=issued_at,
        lifetime=lifetime,
    )


@pytest.mark.parametrize(
    ("lifetime", "min_ttl", "age", "usable"),
    [
        pytest.param(3600, 300, 0, True, id="fresh"),
        pytest.param(3600, 300, 3300, True, id="exactly-min_ttl-left"),
        pytest.param(3600, 300, 3301, False, id="less-than-min_ttl-left"),
        pytest.param(3600, 0, 3599, True, id="min_ttl-0-last-second"),
        # A 60 s token with min_ttl 300: the margin is capped at half its
        # lifetime, so it is reused for its first 30 s rather than never.
        pytest.param(60, 300, 0, True, id="short-token-fresh"),
        pytest.param(60, 300, 29, True, id="short-token-29s"),
        pytest.param(60, 300, 30, True, id="short-token-30s"),
        pytest.param(60, 300, 31, False, id="short-token-31s"),
        pytest.param(60, 20, 40, True, id="min_ttl-below-half-lifetime"),
        pytest.param(60, 20, 41, False, id="min_ttl-below-half-lifetime-passed"),
        pytest.param(3600, 0, 3600, False, id="expired-now"),
        pytest.param(3600, 0, 7200, False, id="expired-long-ago"),
        pytest.param(1, 300, 0, True, id="one-second-token-fresh"),
        pytest.param(1, 0, 1, False, id="one-second-token-expired"),
    ],
)
def test_is_usable_respects_min_ttl_capped_at_half_the_lifetime(lifetime, min_ttl, age, usable):
    record = _record(lifetime)

    assert record.is_usable(min_ttl, now=REQUESTED_AT + age) is usable


@pytest.mark.parametrize(
    ("issued_ahead", "usable"),
    [
        pytest.param(10, True, id="small-skew-tolerated"),
        pytest.param(30, True, id="at-the-tolerance"),
        pytest.param(31, False, id="beyond-the-tolerance"),
        pytest.param(3600, False, id="an-hour-ahead"),
    ],
)
def test_record_issued_in_the_future_is_not_trusted(issued_ahead, usable):
    now = REQUESTED_AT
    record = _record(3600, issued_at=now + issued_ahead)

    assert record.is_usable(0, now=now) is usable
    # Whatever the writer's clock said, a token never has more left than its lifetime.
    assert record.seconds_left(now=now) <= 3600


@pytest.mark.parametrize(("age", "left"), [(0, 3600), (600.7, 2999), (3600, 0), (9999, 0)])
def test_seconds_left_counts_down_to_zero(age, left):
    assert _record(3600).seconds_left(now=REQUESTED_AT + age) == left
    assert _record(3600).as_result(now=REQUESTED_AT + age)["expires_in"] == left


@pytest.mark.parametrize("refresh", [None, REFRESH])
def test_record_survives_the_json_round_trip(refresh):
    record = TokenRecord(
        access_token=TOKEN,
        token_type="Bearer",
        expires_at=REQUESTED_AT + 3600.5,
        issued_at=REQUESTED_AT + 0.5,
        lifetime=3600,
        scope="mobile sms",
        refresh_token=refresh,
    )

    assert TokenRecord.from_json(record.to_json()) == record


def test_repr_of_a_record_shows_no_token():
    record = TokenRecord(
        access_token=TOKEN,
        token_type="Bearer",
        expires_at=REQUESTED_AT + 60,
        issued_at=REQUESTED_AT,
        lifetime=60,
        refresh_token=REFRESH,
    )

    assert TOKEN not in repr(record)
    assert REFRESH not in repr(record)
    assert TOKEN not in str(record)
