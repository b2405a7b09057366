"""The command line: ``rnnguide shapes|params|inspect`` (also ``python -m rnnguide``).

- ``main``: the parser and the commands.
- ``inputs``: a valid input for a model, and loading a ``.keras`` file.
"""
