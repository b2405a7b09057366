"""Sessions: tests, lint, docs, browser, backends, export, oldest (the default set, in that
order); newest, interop, docs-live and bench run only when named (`nox -s interop`).

Locally, reuse the session venvs (`nox -r`, or `nox -R` to skip installs);
with uv on PATH the venvs are made by uv, which is much faster. CI passes from
nothing: `.ci/run` installs nox and uv, then runs `nox`.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys

import nox

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "docs", "_ext"))
from build_settings import HTML_DIR, SPHINX_FLAGS
from quiet_tf import QUIET_ENV

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
# The default set is every session not marked default=False, in the order they
# are defined here: tests, lint, docs, browser, backends, export, oldest.

PYPROJECT = nox.project.load_toml("pyproject.toml")
# Byte-compile at install time: TensorFlow is thousands of modules, and where
# PYTHONDONTWRITEBYTECODE is set every import would compile them all again
# (a notebook kernel's `import tensorflow` drops from ~25 s to ~10 s here).
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
IN_CI = bool(os.environ.get("CI"))
#: one TensorFlow log level everywhere: the pages' (docs/_ext/quiet_tf.py)
QUIET_TF = {**QUIET_ENV, "PYTHONHASHSEED": "0"}


def _install(session: nox.Session, *groups: str, extra: str | None = "tensorflow-cpu") -> None:
    """Install rnnguide (editable) with `extra` ("a,b" for several), then dependency groups."""
    session.install("-e", f".[{extra}]" if extra else ".")
    for group in groups:
        session.install(*nox.project.dependency_groups(PYPROJECT, group))


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, property (hypothesis, vs real Keras), doctest and CLI tests."""
    _install(session, "test")
    env = dict(QUIET_TF)
    if IN_CI:
        env["HYPOTHESIS_PROFILE"] = "ci"
    session.run("pytest", *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def _docs_env(force: bool = IN_CI) -> dict[str, str]:
    env = dict(QUIET_TF)
    # The MyST-NB cache hashes only code cells: it does not notice a changed
    # rnnguide or TensorFlow, so CI always executes every page.
    env["RNNGUIDE_NB_EXECUTION_MODE"] = "force" if force else "cache"
    return env


@nox.session(reuse_venv=True)
def docs(session: nox.Session) -> None:
    """Build the site strictly (warnings are errors) into docs/_build/html."""
    # the exporting page runs ONNX and LiteRT files
    _install(session, "docs", "test", extra="tensorflow-cpu,export")
    _build_docs(session)


def _build_docs(session: nox.Session, force: bool = IN_CI) -> None:
    if "--clean" in session.posargs:
        shutil.rmtree("docs/_build", ignore_errors=True)
    env = _docs_env(force)
    # Pages execute in parallel into the notebook cache first (`sphinx -j`
    # cannot run kernels); in CI the cache is emptied so every page runs again.
    flags = ["--force"] if env["RNNGUIDE_NB_EXECUTION_MODE"] == "force" else []
    session.run("python", "tools/execute_pages.py", "docs", *flags, env=env)
    env["RNNGUIDE_NB_EXECUTION_MODE"] = "cache"  # Sphinx renders from the fresh cache
    args = [a for a in session.posargs if a != "--clean"]
    session.run("sphinx-build", *SPHINX_FLAGS, "docs", str(HTML_DIR), *args, env=env)
    # the build must be strict: a failing cell, a warning, a broken reference fail it
    env["RNNGUIDE_SITE_BUILT"] = "1"
    session.run(
        "pytest", "-p", "no:cacheprovider", "tests/test_docs_strict.py",
        "tests/test_kernel_start.py", "tests/test_colab.py", "tests/test_built_site.py",
        env=env,
    )  # fmt: skip


@nox.session
def browser(session: nox.Session) -> None:
    """Check the built site in headless Chromium: resources, console, math, outputs, search."""
    _install(session, "browser", "test", extra=None)
    if not (HTML_DIR / "index.html").exists():
        session.error("no built site: run `nox -s docs` first")
    chromium = os.environ.get("RNNGUIDE_CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(chromium):
        # Debian's Chromium: Playwright's own browser download does not work offline
        if not shutil.which("apt-get"):
            session.error(f"no Chromium at {chromium}: install it with your package manager")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        session.run(*sudo, "apt-get", "update", "-qq", external=True)
        session.run(
            *sudo, "apt-get", "install", "-y", "-qq", "chromium", external=True,
            env={"DEBIAN_FRONTEND": "noninteractive"},
        )  # fmt: skip
    session.run(
        "python", "tools/browser_check.py", str(HTML_DIR), "--screenshots", "build/screenshots"
    )
    # and the check fails when a page is broken on purpose
    session.run("pytest", "-p", "no:cacheprovider", "tests/test_browser.py", *session.posargs)


#: the property tests and verify, in fewer examples, for the other Keras backends
BACKEND_TESTS = [
    "tests/test_backends.py",
    "tests/test_interop.py",
    "tests/test_reference_vs_keras.py",
    "tests/test_conv_lstm.py",
    "tests/verification/test_training.py",
    "tests/verification/test_watch.py",
]
BACKEND_TESTS += ["tests/test_gradients.py", "tests/test_verify.py", "-m", "backends"]
BACKEND_TESTS += ["-p", "no:cacheprovider"]
BACKEND_TESTS += ["--durations=5"]


@nox.session
def backends(session: nox.Session) -> None:
    """Property tests, verify and interop on Keras 3's JAX backend (KERAS_BACKEND=jax)."""
    _install(session, "test", "jax")
    env = dict(QUIET_TF, KERAS_BACKEND="jax", HYPOTHESIS_PROFILE="ci" if IN_CI else "dev")
    env["RNNGUIDE_BACKEND_EXAMPLES"] = os.environ.get("RNNGUIDE_BACKEND_EXAMPLES", "40")
    # JAX compiles every new shape: fewer interop examples than on TensorFlow
    env["RNNGUIDE_INTEROP_EXAMPLES"] = os.environ.get("RNNGUIDE_INTEROP_EXAMPLES", "16")
    session.run("pytest", *BACKEND_TESTS, *session.posargs, env=env)


@nox.session
def export(session: nox.Session) -> None:
    """verify_exported on real .onnx (onnxruntime) and .tflite (LiteRT) files: tests/test_exported.py."""
    _install(session, "test", extra="tensorflow-cpu,export")
    env = dict(QUIET_TF)
    if IN_CI:
        env["HYPOTHESIS_PROFILE"] = "ci"
    session.run(
        "pytest", "-p", "no:cacheprovider", "--durations=5", "tests/test_exported.py",
        *session.posargs, env=env,
    )  # fmt: skip


_X86 = platform.machine().lower() in ("x86_64", "amd64")
#: The oldest stack pyproject.toml allows: TensorFlow 2.16, the first whose tf.keras
#: is Keras 3, with the Keras it was released beside (3.3; TensorFlow itself only asks
#: for keras>=3.0, but 3.0-3.2 are older than the TensorFlow), and the floors of
#: rnnguide's own dependencies (numpy>=1.24, threadpoolctl>=3.1).
OLDEST = [
    "tensorflow-cpu==2.16.2" if _X86 else "tensorflow==2.16.2",
    "keras==3.3.3",
    "numpy==1.24.4",
    "threadpoolctl==3.1.0",
]


_PRINT_VERSIONS = (
    "import sys, keras, numpy, tensorflow as tf; print('Python', sys.version.split()[0], "
    "'TensorFlow', tf.__version__, 'Keras', keras.version(), 'numpy', numpy.__version__)"
)


@nox.session
def oldest(session: nox.Session) -> None:
    """The test suite on the oldest stack pyproject.toml allows (OLDEST). Tests that
    need a newer Keras skip, naming the installed version (pytest -ra lists them)."""
    session.install("-e", ".", *OLDEST, *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("python", "-c", _PRINT_VERSIONS)
    env = dict(QUIET_TF)
    if IN_CI:
        env["HYPOTHESIS_PROFILE"] = "ci"
    session.run("pytest", "-p", "no:cacheprovider", *session.posargs, env=env)


@nox.session(default=False)
def newest(session: nox.Session) -> None:
    """The tests and the site on the newest TensorFlow and Keras the package index
    serves, installed afresh: a Keras release that changes what a page claims fails
    here before readers see it (.github/workflows/docs.yml runs it weekly)."""
    session.install(
        "--upgrade", "-e", ".[tensorflow-cpu,export]", "keras",
        *nox.project.dependency_groups(PYPROJECT, "test"),
        *nox.project.dependency_groups(PYPROJECT, "docs"),
    )  # fmt: skip
    session.run("python", "-c", _PRINT_VERSIONS)
    env = dict(QUIET_TF, HYPOTHESIS_PROFILE="ci")
    session.run("pytest", "-p", "no:cacheprovider", *session.posargs, env=env)
    _build_docs(session, force=True)  # every page executed again on these versions


@nox.session(venv_backend="virtualenv", default=False)
def interop(session: nox.Session) -> None:
    """to_torch/from_torch against real torch.nn modules, then the property tests and
    verify on Keras' PyTorch backend (KERAS_BACKEND=torch). Installs torch with pip:
    from the package index that is the CUDA build, several GB (not in the default set)."""
    _install(session, "test", "interop")
    env = dict(QUIET_TF, RNNGUIDE_TORCH_CONFIGS="120")
    if IN_CI:
        env["HYPOTHESIS_PROFILE"] = "ci"
    session.run(
        "pytest", "-p", "no:cacheprovider", "tests/test_interop.py", *session.posargs, env=env
    )
    env.update(KERAS_BACKEND="torch", RNNGUIDE_BACKEND_EXAMPLES="60")
    session.run("pytest", *BACKEND_TESTS, *session.posargs, env=env)


@nox.session(name="docs-live", reuse_venv=True, default=False)
def docs_live(session: nox.Session) -> None:
    """Rebuild the site on change and serve it (interactive use only)."""
    _install(session, "docs")
    session.install("sphinx-autobuild")
    session.run("sphinx-autobuild", "docs", str(HTML_DIR), *session.posargs, env=_docs_env())


@nox.session(reuse_venv=True, default=False)
def bench(session: nox.Session) -> None:
    """Print, and write to build/bench.json: import, forward, training and docs-build timings."""
    _install(session, "test", "docs")
    session.run("python", "benchmarks/bench.py", *session.posargs, env=dict(QUIET_TF))


if __name__ == "__main__":  # `python noxfile.py` works too
    sys.exit(nox.main())
