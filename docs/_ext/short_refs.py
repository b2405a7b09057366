"""Resolve a Python cross-reference by its short name when exactly one object has it.

rnnguide's docstrings refer to their siblings by short name (``:class:`Row```,
``:func:`cudnn_conditions```), while the API page documents objects under the
name a reader imports (``rnnguide.Report``) or their module
(``rnnguide.verification.Row``). Sphinx looks a short name up only in the
documenting module, so ``Row`` in ``rnnguide.Report``'s docstring is not found.
Here a reference that Sphinx could not resolve is looked up among every
documented Python object by its last dotted component; when exactly one object
matches (after dropping re-exports of the same object), the reference points to
it. Anything else stays unresolved, and ``-n -W`` fails the build as before.
"""

from __future__ import annotations


def _resolve(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    short = target.rsplit(".", 1)[-1]
    domain = env.get_domain("py")
    found = {
        name: obj
        for name, obj in domain.objects.items()
        if (name == short or name.endswith("." + short)) and not obj.aliased
    }
    if len(found) != 1:
        return None
    (name,) = found
    node = node.deepcopy()
    node["reftarget"] = name
    node["refspecific"] = False
    return domain.resolve_xref(
        env, node.get("refdoc"), app.builder, node["reftype"], name, node, contnode
    )


def setup(app):
    app.connect("missing-reference", _resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
