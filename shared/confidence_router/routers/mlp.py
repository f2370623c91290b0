"""A 2-layer MLP on the query embedding (ReLU hidden layer; softmax over {edge, cloud}, written
as one logit: the softmax of two outputs is the sigmoid of their difference)."""

from __future__ import annotations

from typing import Any

from confidence_router.routers.base import register
from confidence_router.routers.torch_fit import TorchRouter


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
class MLPRouter(TorchRouter):
    kind = "mlp"
    grid = (
        {"hidden": 32, "epochs": 150, "lr": 3e-3},
        {"hidden": 128, "epochs": 150, "lr": 3e-3},
    )
    size_name = "hidden"

    def __init__(
        self,
        hidden: int = 128,
        epochs: int = 300,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        seed: int = 0,
    ) -> None:
        super().__init__(hidden, epochs, lr, weight_decay, seed)

    @property
    def hidden(self) -> int:
        return self.size

    def build(self, dim: int) -> Any:
        return _mlp(dim, self.size)
