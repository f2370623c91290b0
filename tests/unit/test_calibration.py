import pytest

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.routing import band_for_share, threshold_for_share

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


# -- the staged-escalation band -----------------------------------------------------------------


@pytest.mark.parametrize(
    "full,cloud,expected",
    [
        (0.4, 0.4, (0.2, 0.6)),  # ranks 1-2 (0.3, 0.5), centred on the 40% cut
        (0.4, 0.0, (0.0, 0.4)),  # shifted inwards at the bottom: ranks 0-1
        (0.4, 1.0, (0.6, 1.0)),  # and at the top: ranks 3-4
        (0.0, 0.4, (0.4, 0.4)),  # empty band at the cheap cut for 40%
        (1.0, 0.3, (0.0, 1.0)),
        (0.2, 0.5, (0.4, 0.6)),  # one item: rank 2 (0.5)
    ],
)
def test_band_for_share(full: float, cloud: float, expected: tuple[float, float]) -> None:
    low, high = band_for_share(CONF, full, cloud)
    assert (low, high) == pytest.approx(expected)
    assert sum(low <= c < high for c in CONF) == round(full * len(CONF))


def test_band_with_no_gap_at_the_cloud_cut_matches_the_threshold() -> None:
    low, high = band_for_share(CONF, 0.0, 0.6)
    assert low == high == threshold_for_share(CONF, 0.6)


@pytest.mark.parametrize(
    "full,cloud,field",
    [(-0.1, 0.5, "target_full_share"), (0.5, 1.5, "target_cloud_share"), (float("nan"), 0, "full")],
)
def test_band_shares_out_of_range(full: float, cloud: float, field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        band_for_share(CONF, full, cloud)
    with pytest.raises(InvalidInputError):
        band_for_share([], 0.5, 0.5)
