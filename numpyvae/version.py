"""The version of numpyvae, in a module of its own so that every module can read it without
importing the whole package (which a folder named numpyvae in the working directory, such as
the checkout itself, can shadow)."""

__version__ = "0.1.0"
