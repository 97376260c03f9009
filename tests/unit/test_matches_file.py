"""The brand's agent checks a matching payload before writing it: one entry per row, consultants
by index in range (a malformed approved payload is a clear error, not a crash or a wrong file)."""

from __future__ import annotations

from typing import Any

import pytest

from parties.matches import _parse
from protocols.errors import InvalidInput

GOOD: dict[str, Any] = {"consultants": ["c1", "c2"], "top": [[0, 1], None, [1, 0]], "assigned": [0, -1, 1]}


def test_a_well_formed_payload_parses() -> None:
    assert _parse(GOOD, "rel-1", 3) == (["c1", "c2"], [[0, 1], None, [1, 0]], [0, -1, 1])


@pytest.mark.parametrize(
    "bad",
    [
        {**GOOD, "top": [[0, 1], None]},  # one row short
        {**GOOD, "assigned": [0, -1, 2]},  # no consultant 2
        {**GOOD, "top": [[0, 5], None, [1, 0]]},
        {**GOOD, "top": [[0, "c1"], None, [1, 0]]},
        {**GOOD, "consultants": "c1,c2"},
        {k: v for k, v in GOOD.items() if k != "assigned"},
    ],
)
def test_malformed_payloads_are_refused_with_the_shape_expected(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match="one entry per row of the session"):
        _parse(bad, "rel-1", 3)
