"""Matrix factorisation, RouteLLM's: s(M, q) = w^T (v_M * (W q)), bilinear in a learned model
embedding v_M and the projected query; P(cloud wins | q) = sigmoid(s(cloud, q) - s(edge, q))."""

from __future__ import annotations

from typing import Any

from confidence_router.errors import ConfigurationError
from confidence_router.routers.base import EmbeddingRouter, Floats, register
from confidence_router.routers.torch_fit import load_state, probabilities, state_arrays, train


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
class MatrixFactorizationRouter(EmbeddingRouter):
    kind = "matrix_factorization"

    def __init__(
        self,
        rank: int = 64,
        epochs: int = 300,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if rank < 1 or epochs < 1 or not lr > 0:
            raise ConfigurationError("rank/epochs/lr", "must be positive")
        self.rank, self.epochs, self.lr = rank, epochs, lr
        self.weight_decay, self.seed = weight_decay, seed

    def _fit(self, x: Floats, y: Floats) -> None:
        self._module = train(
            lambda: _mf(x.shape[1], self.rank),
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
            "rank": self.rank,
            "epochs": self.epochs,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "seed": self.seed,
        }

    def arrays(self) -> dict[str, Floats]:
        return state_arrays(self._module)

    def load_arrays(self, arrays: dict[str, Floats]) -> None:
        assert self.dim is not None
        self._module = _mf(self.dim, self.rank)
        load_state(self._module, arrays)
