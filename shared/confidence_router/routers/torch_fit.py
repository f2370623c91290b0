"""Full-batch training of a small torch module on soft targets (shared by the MLP and MF
routers); deterministic for a seed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from confidence_router.errors import ConfigurationError
from confidence_router.routers.base import EmbeddingRouter, Floats


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


class TorchRouter(EmbeddingRouter):
    """A router whose model is a small torch module trained by `train` (MLP, MF): subclasses
    give `build(dim)` and their size setting."""

    size_name: str = "size"

    def __init__(self, size: int, epochs: int, lr: float, weight_decay: float, seed: int) -> None:
        super().__init__()
        if size < 1 or epochs < 1 or not lr > 0:
            raise ConfigurationError(f"{self.size_name}/epochs/lr", "must be positive")
        self.size, self.epochs, self.lr = size, epochs, lr
        self.weight_decay, self.seed = weight_decay, seed

    def build(self, dim: int) -> Any:
        raise NotImplementedError

    def _fit(self, x: Floats, y: Floats) -> None:
        self._module = train(
            lambda: self.build(x.shape[1]),
            x,
            y,
            epochs=self.epochs,
            lr=self.lr,
            weight_decay=self.weight_decay,
            seed=self.seed,
        )

    def _predict(self, x: Floats) -> Floats:
        return probabilities(self._module, x)

    def settings(self) -> dict[str, Any]:
        return {
            self.size_name: self.size,
            "epochs": self.epochs,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "seed": self.seed,
        }

    def arrays(self) -> dict[str, Floats]:
        return state_arrays(self._module)

    def load_arrays(self, arrays: dict[str, Floats]) -> None:
        assert self.dim is not None
        self._module = self.build(self.dim)
        load_state(self._module, arrays)
