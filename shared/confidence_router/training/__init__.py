"""The paper's training pipeline: preference labels from SE (or accuracy), battle files."""

from confidence_router.training.labels import (
    Battle,
    accuracy_label,
    read_battles,
    se_label,
    write_battles,
)

__all__ = ["Battle", "accuracy_label", "read_battles", "se_label", "write_battles"]
