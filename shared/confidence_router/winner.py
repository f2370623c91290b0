"""Which tier a preference label prefers: the outcome of one edge-versus-cloud battle."""

from __future__ import annotations

from typing import Literal

Winner = Literal["edge", "cloud", "tie"]
