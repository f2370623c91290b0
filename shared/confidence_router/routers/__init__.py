"""Predictive routers on query embeddings (the paper's phase 3): each returns
P(cloud wins | query); saved as safetensors + JSON, never pickled."""

from confidence_router.routers.base import EmbeddingRouter, Provenance, load_router
from confidence_router.routers.knn import KNNRouter
from confidence_router.routers.matrix_factorization import MatrixFactorizationRouter
from confidence_router.routers.mlp import MLPRouter
from confidence_router.routers.random_router import RandomRouter
from confidence_router.routers.sw_ranking import SWRankingRouter

__all__ = [
    "EmbeddingRouter",
    "KNNRouter",
    "MLPRouter",
    "MatrixFactorizationRouter",
    "Provenance",
    "RandomRouter",
    "SWRankingRouter",
    "load_router",
]
