"""Fitting the grounding cascade's fusion (:class:`detectors.grounding.Fusion`) to data.

The fusion turns a sentence's signals into ``support = sigmoid(bias + w . signals)``.
:func:`fit_fusion` fits ``w`` and ``bias`` by L2-regularised logistic regression
(Newton's method with a backtracking line search: deterministic, no random
start) on sentence-level examples, then picks the support threshold with the
best balanced accuracy on the same examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from detectors.grounding import Fusion
from guardrails._eval_metrics import best_threshold

__all__ = ["FUSION_SIGNALS", "feature_matrix", "fit_fusion", "logistic_regression"]

FUSION_SIGNALS = ("entailment", "contradiction", "lexical", "number_mismatch", "unknown_entities")
"""The signals of ``Grounding`` findings that the shipped fusion combines."""

F64 = npt.NDArray[np.float64]


def feature_matrix(
    features: npt.ArrayLike | Sequence[Mapping[str, float]], names: Sequence[str]
) -> F64:
    """An ``(n, len(names))`` float matrix from a matrix or from signal dicts (a missing
    signal is 0.0, as in ``Fusion.support``)."""
    if isinstance(features, Sequence) and features and isinstance(features[0], Mapping):
        rows: Sequence[Mapping[str, float]] = features  # type: ignore[assignment]
        return np.array([[float(r.get(k, 0.0)) for k in names] for r in rows], dtype=np.float64)
    x = np.asarray(features, dtype=np.float64)
    if x.size == 0:
        return np.zeros((0, len(names)), dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(names):
        raise ValueError(f"features must have shape (n, {len(names)}), got {x.shape}")
    return x


def _objective(x1: F64, t: F64, w: F64, reg: F64, beta: F64) -> float:
    z = x1 @ beta
    return float(np.sum(w * (np.logaddexp(0.0, z) - t * z)) + 0.5 * np.sum(reg * beta**2))


def logistic_regression(
    x: F64,
    t: npt.ArrayLike,
    *,
    l2: float = 1.0,
    sample_weight: npt.ArrayLike | None = None,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> tuple[F64, float]:
    """``(weights, bias)`` minimising the weighted log loss of ``P(t=1) = sigmoid(bias +
    x @ weights)`` plus ``l2 / 2 * |weights|^2`` (the bias is not penalised).

    ``t`` holds 0/1 targets. Newton steps, halved until the objective does not
    increase, until a step moves no parameter by more than ``tol``.
    """
    t = np.asarray(t, dtype=np.float64)
    n, d = x.shape
    if len(t) != n:
        raise ValueError(f"{n} feature rows but {len(t)} targets")
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    x1 = np.hstack([np.ones((n, 1)), x])
    reg = np.r_[0.0, np.full(d, float(l2))]
    beta = np.zeros(d + 1)
    current = _objective(x1, t, w, reg, beta)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(x1 @ beta)))
        grad = x1.T @ (w * (p - t)) + reg * beta
        hess = x1.T @ (x1 * (w * p * (1.0 - p))[:, None]) + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        size = 1.0
        while size > 1e-8:
            candidate = beta - size * step
            value = _objective(x1, t, w, reg, candidate)
            if value <= current + 1e-12:
                break
            size /= 2
        else:
            break  # no step lowers the objective: converged as far as floats allow
        beta, current = candidate, value
        if np.max(np.abs(size * step)) < tol:
            break
    return beta[1:], float(beta[0])


def fit_fusion(
    features: npt.ArrayLike | Sequence[Mapping[str, float]],
    labels: npt.ArrayLike,
    *,
    names: Sequence[str] = FUSION_SIGNALS,
    l2: float = 1.0,
    balanced: bool = True,
    contradiction_threshold: float = 0.5,
) -> Fusion:
    """A :class:`Fusion` fitted to sentence-level examples.

    ``features``: one row per claim sentence, the signals in ``names`` order (or
    a signal dict per sentence, such as a grounding finding's ``data``).
    ``labels``: 1 = the sentence is hallucinated (not supported), 0 = supported,
    the convention of every metric here; the fusion models P(supported), so its
    weights are positive for signals of support.

    * Logistic regression with an L2 penalty ``l2`` on the weights (not the bias);
      with ``balanced`` each class gets half the total sample weight, so a
      frequent class does not pull the support scale its way.
    * ``support_threshold``: the one with the best balanced accuracy on these
      examples when a sentence is called unsupported for ``support <
      support_threshold`` (the cascade's rule).
    * ``contradiction_threshold`` is passed through (not fitted).

    Raises ``ValueError`` when there are no examples or only one class (the
    bias would grow without bound).
    """
    x = feature_matrix(features, names)
    y = np.asarray(labels)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} feature rows but {len(y)} labels")
    if len(y) == 0:
        raise ValueError("fit_fusion needs examples")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0/1 (1 = hallucinated)")
    positives = int(y.sum())
    if positives in (0, len(y)):
        raise ValueError("fit_fusion needs both supported and hallucinated examples")
    supported = 1.0 - y.astype(np.float64)
    weight = None
    if balanced:
        weight = np.where(y == 1, len(y) / (2.0 * positives), len(y) / (2.0 * (len(y) - positives)))
    coef, bias = logistic_regression(x, supported, l2=l2, sample_weight=weight)
    support = 1.0 / (1.0 + np.exp(-(bias + x @ coef)))
    # balanced accuracy is symmetric in the classes: the best "supported when
    # support >= t" is the best "unsupported when support < t"
    threshold, _ = best_threshold(support, supported.astype(int), "balanced")
    return Fusion(
        weights={k: float(v) for k, v in zip(names, coef, strict=True)},
        bias=bias,
        support_threshold=threshold,
        contradiction_threshold=contradiction_threshold,
    )
