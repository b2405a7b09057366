"""The version of rnnguide (read by the build, shown by ``rnnguide --version``)."""

__version__ = "0.1.0"
