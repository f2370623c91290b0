"""A 2-layer MLP on the query embedding (ReLU hidden layer; softmax over {edge, cloud}, written
as one logit: the softmax of two outputs is the sigmoid of their difference)."""

from __future__ import annotations

from typing import Any

from confidence_router.errors import ConfigurationError
from confidence_router.routers.base import EmbeddingRouter, Floats, register
from confidence_router.routers.torch_fit import load_state, probabilities, state_arrays, train


def _mlp(dim: int, hidden: int) -> Any:
    import torch

    class MLP(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.hidden = torch.nn.Linear(dim, hidden)
            self.out = torch.nn.Linear(hidden, 2)

        def forward(self, x: Any) -> Any:
            logits = self.out(torch.relu(self.hidden(x)))
            return logits[:, 1] - logits[:, 0]

    return MLP()


@register
class MLPRouter(EmbeddingRouter):
    kind = "mlp"

    def __init__(
        self,
        hidden: int = 128,
        epochs: int = 300,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if hidden < 1 or epochs < 1 or not lr > 0:
            raise ConfigurationError("hidden/epochs/lr", "must be positive")
        self.hidden, self.epochs, self.lr = hidden, epochs, lr
        self.weight_decay, self.seed = weight_decay, seed

    def _fit(self, x: Floats, y: Floats) -> None:
        self._module = train(
            lambda: _mlp(x.shape[1], self.hidden),
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
            "hidden": self.hidden,
            "epochs": self.epochs,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "seed": self.seed,
        }

    def arrays(self) -> dict[str, Floats]:
        return state_arrays(self._module)

    def load_arrays(self, arrays: dict[str, Floats]) -> None:
        assert self.dim is not None
        self._module = _mlp(self.dim, self.hidden)
        load_state(self._module, arrays)
