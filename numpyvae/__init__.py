"""numpyvae: a variational autoencoder in NumPy, every gradient written by hand and checked.

The objective everywhere in this package is the negative ELBO, stated once in
`numpyvae.vae` (see derivations.md, section 2.4): summed over data dimensions and latent
dimensions, averaged over the Monte Carlo samples of each data point, averaged over the batch.
"""

from numpyvae.config import VAEConfig
from numpyvae.vae import VAE, LossParts
from numpyvae.version import __version__

__all__ = ["VAE", "LossParts", "VAEConfig", "__version__"]
