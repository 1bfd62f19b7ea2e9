import pytest

from tests.indicators.scenarios import build_march


@pytest.fixture
def march(cpts_a, sas43):
    """A known month in the Essonne SAS, plus noise outside the period and territory."""
    return build_march(cpts_a)
