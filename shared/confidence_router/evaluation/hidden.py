"""Hidden states in a JSON store: each vector as float16 bytes in base64 (a 896-wide state is
2.4 kB of text), with the layer and the number of answer states it was averaged over."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from confidence_router.errors import InvalidInputError
from confidence_router.generation import HiddenStates


def _encode(vector: npt.NDArray[np.float32]) -> str:
    with np.errstate(over="ignore"):
        half = np.asarray(vector, dtype=np.float32).astype("<f2")
    if not np.isfinite(half).all():  # beyond float16's 65504, or already inf/NaN
        raise InvalidInputError("a hidden state does not fit float16 (or is not finite)")
    return base64.b64encode(half.tobytes()).decode("ascii")


def _decode(text: str, width: int) -> npt.NDArray[np.float32]:
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    vector = np.frombuffer(raw, dtype="<f2")
    if vector.size != width:
        raise InvalidInputError(f"a stored state has {vector.size} values, expected {width}")
    return vector.astype(np.float32)


def encode_states(hidden: HiddenStates) -> dict[str, Any]:
    """A JSON-ready record of `hidden` (float16: the probe's features need no more)."""
    return {
        "layer": hidden.layer,
        "answer_states": hidden.answer_states,
        "width": int(hidden.prompt.size),
        "prompt": _encode(hidden.prompt),
        "answer_mean": _encode(hidden.answer_mean),
    }


def decode_states(record: Mapping[str, Any]) -> HiddenStates:
    """The `HiddenStates` an `encode_states` record holds (float16 precision)."""
    try:
        width = int(record["width"])
        return HiddenStates(
            prompt=_decode(record["prompt"], width),
            answer_mean=_decode(record["answer_mean"], width),
            layer=int(record["layer"]),
            answer_states=int(record["answer_states"]),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"not a stored hidden-state record: {exc}") from exc
