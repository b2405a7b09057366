import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from quiet_tf import QUIET_ENV

# one TensorFlow log level everywhere: the pages'
for _name, _value in QUIET_ENV.items():
    os.environ.setdefault(_name, _value)

# CI runs a fixed set of examples so main stays reproducible; locally each run
# draws new ones.
settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def keras():
    import keras

    return keras


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    doctest_namespace["np"] = np


@pytest.fixture(autouse=True)
def _torch_no_grad():
    """On Keras' torch backend, outputs that need no gradient: ``np.asarray(y)`` in
    the tests refuses a tensor that requires grad (framework_gradients turns
    gradients back on where it needs them)."""
    if os.environ.get("KERAS_BACKEND") != "torch":
        yield
        return
    import torch

    with torch.no_grad():
        yield


#: doctests that need a newer Keras than the oldest one rnnguide supports, and why:
#: on an older Keras they are skipped, naming the installed version (`nox -s oldest`)
NEEDS_KERAS = {
    "rnnguide.verification.watch.watch": ((3, 8), "training-mode dropout as Keras 3.8+ draws it"),
}


def pytest_collection_modifyitems(config, items):
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("keras")
    except PackageNotFoundError:
        return
    have = tuple(int(p) for p in installed.split(".")[:2] if p.isdigit())
    for item in items:
        needed = NEEDS_KERAS.get(item.name)
        if needed and have < needed[0]:
            wanted = ".".join(map(str, needed[0]))
            item.add_marker(
                pytest.mark.skip(reason=f"needs Keras {wanted} ({needed[1]}), got {installed}")
            )
