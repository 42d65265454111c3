"""Measures: pure functions from statistics to numbers, and their registry.

Each family lives in its own module and registers its measures on import.
"""

from . import _cka  # noqa: F401  (registers linear_cka)
from ._api import cka, measures, similarity, unit_correlation
from ._cka import linear_cka_from
from ._kernel_cka import debiased_cka_from, minibatch_cka_from, rbf_cka_from
from ._deconfounded import deconfounded_cka_from
from ._cca import (
    CanonicalCorrelations,
    RankDeficiencyWarning,
    canonical_correlations,
    canonical_correlations_from,
    cca_from,
    pwcca_from,
    svcca_from,
)
from ._procrustes import procrustes_from, shape_metric_from
from ._predictivity import DEFAULT_ALPHAS, linear_predictivity_from
from ._neuron import RANKING_METHODS, lincca_from, maxcorr_from, neuron_ranking, neuron_scores_from
from ._correlation import unit_correlation_from
from ._rsa import compare_rdms, deconfounded_rsa, deconfounded_rsa_from, rdm, rsa, rsa_from
from ._knn import mutual_knn, mutual_knn_from
from ._stochastic import gaussian_shape_distance, stochastic_shape_distance, stochastic_shape_from
from ._registry import MeasureSpec, get_measure, measure_names, register
from ._significance import SignificanceResult, bootstrap_distribution, permutation_null, significance

__all__ = [
    "significance",
    "SignificanceResult",
    "permutation_null",
    "bootstrap_distribution",
    "similarity",
    "cka",
    "unit_correlation",
    "measures",
    "linear_cka_from",
    "minibatch_cka_from",
    "debiased_cka_from",
    "rbf_cka_from",
    "deconfounded_cka_from",
    "CanonicalCorrelations",
    "RankDeficiencyWarning",
    "canonical_correlations",
    "canonical_correlations_from",
    "cca_from",
    "svcca_from",
    "pwcca_from",
    "procrustes_from",
    "shape_metric_from",
    "linear_predictivity_from",
    "DEFAULT_ALPHAS",
    "maxcorr_from",
    "lincca_from",
    "neuron_scores_from",
    "neuron_ranking",
    "RANKING_METHODS",
    "unit_correlation_from",
    "rdm",
    "compare_rdms",
    "rsa",
    "rsa_from",
    "deconfounded_rsa",
    "deconfounded_rsa_from",
    "mutual_knn",
    "mutual_knn_from",
    "stochastic_shape_distance",
    "gaussian_shape_distance",
    "stochastic_shape_from",
    "MeasureSpec",
    "register",
    "get_measure",
    "measure_names",
]
