"""The equations applied to a real layer's weights.

- ``forward``: ``reference_call``, ``gates``, ``split_weights``.
- ``gradients``: ``reference_grad`` and ``state_jacobian_norms`` (backpropagation through time).
"""
