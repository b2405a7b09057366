"""A real layer (or model) and its equations, run on the same inputs and compared.

- ``compare``: the tolerances, the comparison rules and the reports.
- ``beside``: the equations run beside the framework's call.
- ``gradients``: ``reference_grad``, ``state_jacobian_norms`` and the gradient rows.
- ``checking``: ``verify``, ``verify_model``, ``assert_equations``.
"""
