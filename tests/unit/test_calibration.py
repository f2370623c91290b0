import pytest

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.routing import threshold_for_share

CONF = [0.9, 0.1, 0.5, 0.7, 0.3]


@pytest.mark.parametrize("share,expected", [(0.0, 0), (0.2, 1), (0.4, 2), (0.6, 3), (1.0, 5)])
def test_threshold_escalates_requested_share(share: float, expected: int) -> None:
    t = threshold_for_share(CONF, share)
    assert sum(c < t for c in CONF) == expected
    assert 0.0 <= t <= 1.0


def test_midpoint_between_neighbours() -> None:
    assert threshold_for_share(CONF, 0.4) == pytest.approx(0.4)


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_share_out_of_range(share: float) -> None:
    with pytest.raises(ConfigurationError, match="target_cloud_share"):
        threshold_for_share(CONF, share)


def test_needs_prompts() -> None:
    with pytest.raises(InvalidInputError):
        threshold_for_share([], 0.5)
