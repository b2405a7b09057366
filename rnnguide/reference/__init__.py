"""The equations applied to a real layer's weights.

- ``forward``: ``reference_call``, ``gates``, ``split_weights``.
"""
