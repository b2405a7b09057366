"""Arithmetic on a spec: no numpy needed, except to describe a Keras model.

- ``shapes``: output shapes, weight shapes, parameter counts and formulas.
- ``performance``: FLOPs per step and the cuDNN fast path's rules.
- ``describe``: a table of a model's recurrent layers.
"""
