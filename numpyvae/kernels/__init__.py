"""Where the arrays of the training step live, so that the step is few passes over memory.

`FlatArrays` keeps named arrays as consecutive views of one 1-D buffer: the model's parameters
and its gradients are laid out that way, and the optimizers update every parameter with one
NumPy call per formula line instead of one per parameter. The fast kernels themselves sit
beside the formula-shaped references they are tested against, in the modules a student reads:
numpyvae.optim (Adam, SGD) and numpyvae.likelihoods.bernoulli. `blocks` runs such a kernel on
cache-sized blocks, on one thread or more; `fastest` chooses between equivalent forms by
timing them on the machine at hand.
"""

from numpyvae.kernels.flat import FlatArrays

__all__ = ["FlatArrays"]
