"""Matrix factorisation, RouteLLM's: s(M, q) = w^T (v_M * (W q)), bilinear in a learned model
embedding v_M and the projected query; P(cloud wins | q) = sigmoid(s(cloud, q) - s(edge, q))."""

from __future__ import annotations

from typing import Any

from confidence_router.routers.base import register
from confidence_router.routers.torch_fit import TorchRouter


def _mf(dim: int, rank: int) -> Any:
    import torch

    class MF(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.project = torch.nn.Linear(dim, rank, bias=False)
            self.models = torch.nn.Embedding(2, rank)  # 0: edge, 1: cloud
            self.score = torch.nn.Linear(rank, 1, bias=False)

        def forward(self, x: Any) -> Any:
            q = self.project(x)
            edge = self.score(self.models.weight[0] * q)[:, 0]
            cloud = self.score(self.models.weight[1] * q)[:, 0]
            return cloud - edge

    return MF()


@register
class MatrixFactorizationRouter(TorchRouter):
    kind = "matrix_factorization"
    grid = (
        {"rank": 16, "epochs": 150, "lr": 3e-3},
        {"rank": 64, "epochs": 150, "lr": 3e-3},
    )
    size_name = "rank"

    def __init__(
        self,
        rank: int = 64,
        epochs: int = 300,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        seed: int = 0,
    ) -> None:
        super().__init__(rank, epochs, lr, weight_decay, seed)

    @property
    def rank(self) -> int:
        return self.size

    def build(self, dim: int) -> Any:
        return _mf(dim, self.size)
