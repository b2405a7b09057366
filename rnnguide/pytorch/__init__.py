"""PyTorch's recurrent modules, without torch.

- ``equations``: PyTorch's equations in numpy and its ``state_dict`` keys.
- ``convert``: ``to_torch`` / ``from_torch``.
"""
