"""Streaming sufficient statistics: update / merge / finalize / state_dict.

Every statistic accumulates named feature blocks (layers) batch by batch in
float64, merges exactly across batches, processes and machines, and finalizes
into a frozen snapshot that measures read.
"""

from ._base import Statistic
from ._engine import StatisticSet
from ._moments import DEFAULT_MAX_FEATURES, DEFAULT_MAX_MEMORY_GB, Moments, MomentsSnapshot, moments_flops
from ._fold_moments import FoldMoments, FoldMomentsSnapshot, fold_of_rows
from ._kernel_moments import DebiasedMoments, DebiasedMomentsSnapshot
from ._minibatch_hsic import MinibatchHSIC, MinibatchHSICSnapshot
from ._reservoir import Reservoir, ReservoirSnapshot

__all__ = [
    "Statistic",
    "StatisticSet",
    "Moments",
    "MomentsSnapshot",
    "DEFAULT_MAX_FEATURES",
    "DEFAULT_MAX_MEMORY_GB",
    "moments_flops",
    "FoldMoments",
    "FoldMomentsSnapshot",
    "fold_of_rows",
    "DebiasedMoments",
    "DebiasedMomentsSnapshot",
    "MinibatchHSIC",
    "MinibatchHSICSnapshot",
    "Reservoir",
    "ReservoirSnapshot",
]
