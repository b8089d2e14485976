"""numpyvae: a variational autoencoder in NumPy, every gradient written by hand and checked.

The objective everywhere in this package is the negative ELBO, stated once in
`numpyvae.vae` (see derivations.md, section 2.4): summed over data dimensions and latent
dimensions, averaged over the Monte Carlo samples of each data point, averaged over the batch.
"""

# Before NumPy loads OpenBLAS: its idle worker threads sleep at once (numpyvae.openblas).
from numpyvae.openblas import sleep_idle_threads

sleep_idle_threads()

from numpyvae.config import VAEConfig  # noqa: E402
from numpyvae.vae import VAE, LossParts  # noqa: E402
from numpyvae.version import __version__  # noqa: E402

__all__ = ["VAE", "LossParts", "VAEConfig", "__version__"]
