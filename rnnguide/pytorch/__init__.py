"""PyTorch's recurrent modules, without torch.

- ``equations``: PyTorch's equations in numpy and its ``state_dict`` keys.
- ``rules``: what a PyTorch module can hold, checked on specs (``to_torch`` and the weights
  picture refuse alike).
- ``convert``: ``to_torch`` / ``from_torch``.
"""
