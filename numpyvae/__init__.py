"""numpyvae: a variational autoencoder in NumPy, every gradient written by hand and checked.

The objective everywhere in this package is the negative ELBO, stated once in
`numpyvae.vae` (see derivations.md, section 2.4): summed over data dimensions and latent
dimensions, averaged over the Monte Carlo samples of each data point, averaged over the batch.
"""

# Before NumPy loads OpenBLAS if it can (or by asking the OpenBLAS it loaded): its idle worker
# threads sleep 0.1 ms after a product, not 0.1 s (numpyvae.openblas).
from numpyvae.openblas import sleep_idle_threads

sleep_idle_threads()

from numpyvae.config import VAEConfig  # noqa: E402
from numpyvae.vae import VAE, LossParts  # noqa: E402
from numpyvae.version import __version__  # noqa: E402

__all__ = ["VAE", "LossParts", "VAEConfig", "__version__"]
