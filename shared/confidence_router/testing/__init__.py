"""Test helpers that ship with the library: fault injection in front of a real server."""

from confidence_router.testing.fault_proxy import FAULTS, FaultProxy
from confidence_router.testing.soak import MIXED_SCHEDULE, SoakResult, run_soak, soak_routers

__all__ = ["FAULTS", "MIXED_SCHEDULE", "FaultProxy", "SoakResult", "run_soak", "soak_routers"]
