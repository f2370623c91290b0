"""Full-batch training of a small torch module on soft targets (shared by the MLP and MF
routers); deterministic for a seed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from confidence_router.routers.base import Floats


def train(
    build: Callable[[], Any],
    x: Floats,
    y: Floats,
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    seed: int,
) -> Any:
    """A module from `build()` (mapping (n, d) to (n,) logits of P(cloud wins)) fitted with
    Adam on binary cross-entropy against the soft targets `y`."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = build()
        inputs = torch.tensor(x, dtype=torch.float32)
        labels = torch.tensor(y, dtype=torch.float32)
        optimizer = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        module.train()
        for _ in range(epochs):
            optimizer.zero_grad()
            loss = loss_fn(module(inputs), labels)
            loss.backward()
            optimizer.step()
    module.eval()
    return module


def probabilities(module: Any, x: Floats) -> Floats:
    import torch

    with torch.inference_mode():
        logits = module(torch.tensor(x, dtype=torch.float32))
    return np.asarray(torch.sigmoid(logits).double().numpy(), dtype=np.float64)


def state_arrays(module: Any) -> dict[str, Floats]:
    return {k: v.detach().double().numpy() for k, v in module.state_dict().items()}


def load_state(module: Any, arrays: dict[str, Floats]) -> None:
    import torch

    module.load_state_dict({k: torch.tensor(v, dtype=torch.float32) for k, v in arrays.items()})
    module.eval()
