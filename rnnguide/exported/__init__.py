"""Exported files (ONNX, LiteRT) checked against the model and its equations.

- ``runtimes``: opening an exported file and running it.
- ``onnx_file``: an ONNX file read back into Keras' terms.
- ``check``: ``verify_exported``, ``assert_exported`` and their report.
"""
