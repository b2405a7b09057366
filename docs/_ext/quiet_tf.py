"""Quiet TensorFlow for the notebook kernels that execute the site's pages.

TensorFlow writes C++ log lines (absl's "WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR", "I0000 ...
cpu_feature_guard ...", "E0000 ... oneDNN ...") to the process' stderr, which a
notebook kernel turns into cell output. They are silenced where they are
emitted: the environment of the kernel, read by TensorFlow's C++ logger when
it loads, and the lines written while TensorFlow's libraries load (before
that logger reads anything) are kept out by importing TensorFlow at kernel start
with the stderr descriptor muted (docs/_ext/kernel_startup.py, run through
PYTHONSTARTUP). ``TF_CPP_MIN_LOG_LEVEL=3`` drops INFO, WARNING and ERROR lines
at run time (the default 0, and even 2, let the oneDNN ERROR line through);
absl's and gRPC's own thresholds follow. Nothing here changes what TensorFlow computes (oneDNN
stays as the reader's TensorFlow has it).

Used by docs/conf.py (Sphinx's kernels), tools/execute_pages.py (the parallel
executor) and the Colab notebooks' setup cell (docs/_ext/colab_notebooks.py).
"""

from __future__ import annotations

import os
from pathlib import Path

#: the environment that silences TensorFlow's C++ logging at run time
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR
    "GRPC_VERBOSITY": "ERROR",
    "GLOG_minloglevel": "3",
    "ABSL_MIN_LOG_LEVEL": "3",
}

#: run by each kernel at start: imports TensorFlow with descriptor 2 muted, since
#: the lines TensorFlow writes while it loads ignore the variables above
KERNEL_STARTUP = Path(__file__).with_name("kernel_startup.py")


def quiet_kernels(environ=os.environ) -> None:
    """Set the quiet environment for every kernel started from this process."""
    environ.update(QUIET_ENV)
    environ["PYTHONSTARTUP"] = str(KERNEL_STARTUP)
