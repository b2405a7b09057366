"""A real layer (or model) and its equations, run on the same inputs and compared.

- ``compare``: the tolerances, the comparison rules and the reports.
- ``rounding``: the tolerance measured from the equations' own rounding.
- ``beside``: the equations run beside the framework's call.
- ``gradients``: one row per gradient, against the framework's autodiff.
- ``checking``: ``verify``, ``verify_model``, ``assert_equations``.
- ``watch``: ``watch``, the recurrent layer calls of real ``fit`` steps, checked.
"""
