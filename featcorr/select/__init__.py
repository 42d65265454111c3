"""Feature selection with a target: dependence scores and scikit-learn selectors.

``Rank`` keeps the features most dependent on y; ``MRMR`` adds a redundancy
penalty. All selectors are scikit-learn transformers (``SelectorMixin``)
built on :class:`featcorr.select.BaseSelector`. :func:`dependence` and
:func:`dependence_test` give one score (and permutation p-value) per feature;
the ``*_score`` functions plug the same scores into
``sklearn.feature_selection.SelectKBest``.
"""

from ._base import BaseSelector
from ._dependence_api import DependenceTest, dependence, dependence_test
from ._disco import DisCo
from ._feature_gradients import FeatureGradients
from ._hsic_lasso import HSICLasso
from ._mrmr import MRMR
from ._rank import Rank
from ._sequential_attention import SequentialAttention
from ._scores import dcor_score, f_score, hsic_score, kendall_score, mi_score, pearson_score, spearman_score

__all__ = [
    "BaseSelector",
    "Rank",
    "MRMR",
    "HSICLasso",
    "FeatureGradients",
    "DisCo",
    "SequentialAttention",
    "dependence",
    "dependence_test",
    "DependenceTest",
    "pearson_score",
    "spearman_score",
    "kendall_score",
    "f_score",
    "dcor_score",
    "hsic_score",
    "mi_score",
]
