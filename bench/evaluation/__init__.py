"""Stage 3, evaluation: scores -> masked top-k -> metrics, the same code for every method;
the validation slice carved from train; paired significance tests over per-user values."""

from bench.evaluation.evaluate import Evaluation, evaluate, evaluate_rating
from bench.evaluation.metrics import DEFAULT_KS, METRICS, ranking_metrics
from bench.evaluation.topk import as_scores, mask_scores, top_k
from bench.evaluation.validation import Validation, carve_validation, validation_metric

__all__ = [
    "DEFAULT_KS",
    "METRICS",
    "Evaluation",
    "Validation",
    "as_scores",
    "carve_validation",
    "evaluate",
    "evaluate_rating",
    "mask_scores",
    "ranking_metrics",
    "top_k",
    "validation_metric",
]
