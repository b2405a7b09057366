"""Every touch of a Keras object, and nothing else.

- ``objects``: what a Keras object is and what is inside it (layers, cells, halves).
- ``read``: a Keras layer or cell read into a spec (weights become numpy, once).
- ``run``: building, compiled calls, state snapshots and the framework's own gradients.
- ``resolve``: the one entry for "a kind name or a Keras object".
- ``built``: a layer read for a call, built for its input first when it is not.
- ``intercept``: a model's recurrent calls replaced while it runs, put back in ``finally``.
- ``dropout``: the dropout masks a cell draws, recorded (or replayed) while a call runs.
"""
