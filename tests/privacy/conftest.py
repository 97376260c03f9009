"""Privacy attacks run against real servers in this process (the integration suite's ``live``)."""

from tests.integration.conftest import live  # noqa: F401  (the fixture, shared)
