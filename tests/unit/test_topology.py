"""A topology names every participant; asking for one it does not list is a config error that
lists the ones it does (the CLI prints it instead of a traceback)."""

from __future__ import annotations

import pytest

from deploy.topology import Participant, Topology
from protocols.errors import ConfigError


def test_an_unknown_participant_is_a_config_error_naming_the_known_ones():
    topo = Topology(
        name="t",
        participants=[
            Participant(name="zone", role="zone", address="127.0.0.1:1"),
            Participant(name="media-a", role="media", address="127.0.0.1:2"),
        ],
    )
    assert topo.get("media-a").role == "media"
    with pytest.raises(
        ConfigError, match=r"no participant 'media_a' in topology 't' \(known: zone, media-a\)"
    ):
        topo.get("media_a")
