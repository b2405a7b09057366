# Run by every kernel that executes a page, before the page's first cell
# (IPython runs the file named by PYTHONSTARTUP; docs/_ext/quiet_tf.py sets it),
# and pasted into the Colab notebooks' setup cell.
#
# TensorFlow writes C++ log lines while its libraries load, before it reads
# TF_CPP_MIN_LOG_LEVEL: absl's "WARNING: All log messages before
# absl::InitializeLog() is called are written to STDERR" and, on CPUs where
# oneDNN is used, "I0000 ... port.cc ... oneDNN custom operations are on".
# Importing TensorFlow here, with the process' stderr (file descriptor 2) sent to
# /dev/null for the import only, keeps them out of the page; afterwards
# TF_CPP_MIN_LOG_LEVEL=3 holds for what TensorFlow logs at run time. Python's
# warnings do not go through descriptor 2 in a kernel, so they still show (and
# fail the build). Nothing is left in the page's namespace.
def _rnnguide_import_tensorflow_quietly():
    import importlib.util
    import os

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend != "tensorflow" or importlib.util.find_spec("tensorflow") is None:
        return
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


_rnnguide_import_tensorflow_quietly()
del _rnnguide_import_tensorflow_quietly
