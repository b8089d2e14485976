"""The training objectives, by name: the one list that `VAEConfig.objective` chooses from.

Adding one is a module with an `Objective` subclass (numpyvae.objectives.base lists what it
must provide) and one entry here; the configuration, the command line and the checkpoint
follow from this registry.
"""

from numpyvae.objectives.base import (
    LossParts,
    Objective,
    ObjectiveGrad,
    PathwiseObjective,
    log_posterior,
    log_prior,
)
from numpyvae.objectives.elbo import ELBO, KL_ESTIMATORS, elbo_analytic_kl, elbo_sampled_kl
from numpyvae.objectives.fisher import FisherObjective, FisherParts
from numpyvae.objectives.iwae import (
    IWAEBound,
    iwae_bound,
    log_importance_weights,
    log_likelihood,
    log_sum_exp,
)

OBJECTIVES: dict[str, type[Objective]] = {
    ELBO.name: ELBO,
    IWAEBound.name: IWAEBound,
    FisherObjective.name: FisherObjective,
}

__all__ = [
    "ELBO",
    "FisherObjective",
    "FisherParts",
    "KL_ESTIMATORS",
    "OBJECTIVES",
    "IWAEBound",
    "LossParts",
    "Objective",
    "ObjectiveGrad",
    "PathwiseObjective",
    "elbo_analytic_kl",
    "elbo_sampled_kl",
    "iwae_bound",
    "log_importance_weights",
    "log_likelihood",
    "log_posterior",
    "log_prior",
    "log_sum_exp",
]
