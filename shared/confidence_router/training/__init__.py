"""The paper's training pipeline: SE of both tiers per prompt (phase 1, `phase1`), preference
labels and battle files (phase 2), routers trained on them (phase 3, `train`)."""

from confidence_router.training.labels import (
    Battle,
    accuracy_label,
    read_battles,
    se_label,
    write_battles,
)

__all__ = ["Battle", "accuracy_label", "read_battles", "se_label", "write_battles"]
