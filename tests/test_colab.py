"""The Colab button opens a real notebook: docs/_ext/colab_notebooks.py.

The unit tests need nbformat and IPython (the docs group); the checks of the
built site run in the `docs` nox session, after the build (RNNGUIDE_SITE_BUILT=1).
"""

import json
import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("IPython")
from IPython.core.inputtransformer2 import TransformerManager  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs"
import colab_notebooks  # noqa: E402  (docs/_ext, on pytest's pythonpath)

REPO = "https://github.com/example/rnnguide"


def page(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata["source_map"] = [0, 3]
    return nb


def test_setup_cell_installs_rnnguide_from_the_repository_when_missing():
    nb = colab_notebooks.colab_notebook(
        page(nbformat.v4.new_code_cell("import rnnguide")), REPO, "https://site.example"
    )
    note, setup, original = nb.cells
    assert note.cell_type == "markdown" and "https://site.example" in note.source
    assert original.source == "import rnnguide"
    # IPython turns the indented %pip into a real call to the pip magic
    python = TransformerManager().transform_cell(setup.source)
    assert "run_line_magic('pip'" in python
    assert f"rnnguide @ git+{REPO}" in python
    compile(python, "setup", "exec")
    # ... and only when rnnguide is missing
    guarded = (
        r'if importlib\.util\.find_spec\("rnnguide"\) is None:\n +get_ipython\(\)\.run_line_magic'
    )
    assert re.search(guarded, python), python
    assert "source_map" not in nb.metadata
    nbformat.validate(nb)


def test_setup_cell_silences_tensorflow_logs_before_anything_runs():
    # TensorFlow's C++ log lines (absl, cpu_feature_guard, oneDNN) go to the
    # kernel's stderr, so into the notebook: the environment is set first
    nb = colab_notebooks.colab_notebook(page(), REPO, REPO)
    setup = nb.cells[1].source
    assert 'os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"' in setup
    assert setup.index("TF_CPP_MIN_LOG_LEVEL") < setup.index("%pip")
    # the lines TensorFlow writes while it loads ignore that variable: it is
    # imported with descriptor 2 muted, as in the build's kernels
    assert "os.dup2(null, 2)" in setup and "import tensorflow" in setup
    assert setup.index("import tensorflow") < setup.index("%pip")


def test_setup_cell_pins_the_commit_the_site_was_built_from():
    nb = colab_notebooks.colab_notebook(page(), REPO, REPO, ref="0123abc")
    assert f'"rnnguide @ git+{REPO}@0123abc"' in nb.cells[1].source


def test_expected_errors_are_marked_and_explained():
    bad = nbformat.v4.new_code_cell("x = [1][2]")
    bad.metadata["tags"] = ["raises-exception"]
    nb = colab_notebooks.colab_notebook(page(bad), REPO, REPO)
    assert nb.cells[-1].source.startswith("# raises an exception on purpose\n")
    assert "Run all" in nb.cells[0].source
    clean = colab_notebooks.colab_notebook(page(nbformat.v4.new_code_cell("1")), REPO, REPO)
    assert "Run all" not in clean.cells[0].source


def fake_resolver(role, target):
    pages = {"concepts/bptt": "Backpropagation through time", "compare/training": "Training"}
    if role == "doc":
        docname = target.removeprefix("../").removesuffix(".md")
        docname = docname if "/" in docname else f"concepts/{docname}"
        return (
            (f"https://site.example/{docname}.html", pages[docname]) if docname in pages else None
        )
    if role == "ref" and target == "notation":
        return "https://site.example/concepts/simple_rnn_cell.html#notation", "Notation"
    if role == "keras-src":
        return f"https://github.com/keras-team/keras/blob/v3/keras/src/{target}", target
    return None


def test_roles_become_markdown_links():
    text = (
        "See {doc}`bptt`, {doc}`the comparison <../compare/training>`, "
        "{ref}`the notation table <notation>`, {ref}`notation`, "
        "{keras-src}`layers/rnn/lstm.py`, [BPTT](bptt.md#gradients), "
        "[Keras](https://keras.io/api/layers/recurrent_layers/lstm/) and {func}`print`."
    )
    out = colab_notebooks.markdown_links(text, fake_resolver)
    assert out == (
        "See [Backpropagation through time](https://site.example/concepts/bptt.html), "
        "[the comparison](https://site.example/compare/training.html), "
        "[the notation table](https://site.example/concepts/simple_rnn_cell.html#notation), "
        "[Notation](https://site.example/concepts/simple_rnn_cell.html#notation), "
        "[layers/rnn/lstm.py](https://github.com/keras-team/keras/blob/v3/keras/src/"
        "layers/rnn/lstm.py), [BPTT](https://site.example/concepts/bptt.html#gradients), "
        "[Keras](https://keras.io/api/layers/recurrent_layers/lstm/) and `print`."
    )
    assert not colab_notebooks.ROLE.search(out)


def test_notebook_markdown_has_links_and_code_is_untouched():
    md = nbformat.v4.new_markdown_cell("Next: {doc}`bptt`.")
    code = nbformat.v4.new_code_cell('s = "{doc}`bptt`"')
    nb = colab_notebooks.colab_notebook(page(md, code), REPO, REPO, resolve=fake_resolver)
    assert nb.cells[2].source == (
        "Next: [Backpropagation through time](https://site.example/concepts/bptt.html)."
    )
    assert nb.cells[3].source == 's = "{doc}`bptt`"'
    # without a resolver a role still never shows raw: its text stays, as code
    bare = colab_notebooks.colab_notebook(page(md), REPO, REPO)
    assert bare.cells[2].source == "Next: `bptt`."


def test_the_original_notebook_is_left_alone():
    original = page(nbformat.v4.new_code_cell("1"))
    before = json.dumps(original, sort_keys=True)
    colab_notebooks.colab_notebook(original, REPO, REPO)
    assert json.dumps(original, sort_keys=True) == before


built = pytest.mark.skipif(
    not os.environ.get("RNNGUIDE_SITE_BUILT"), reason="runs in `nox -s docs` after the build"
)
COLAB_LINK = re.compile(r'href="(https://colab\.research\.google\.com/github/[^"]+)"')


def executed_pages():
    root = DOCS / "_build" / "jupyter_execute"
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.ipynb"))


@built
def test_every_notebook_page_links_to_its_colab_notebook():
    pages = executed_pages()
    assert len(pages) >= 10
    for name in pages:
        html = (DOCS / "_build" / "html" / f"{name}.html").read_text()
        links = COLAB_LINK.findall(html)
        assert len(links) == 1, (name, links)
        assert links[0].endswith(f"/blob/{colab_notebooks.NOTEBOOK_BRANCH}/{name}.ipynb"), links
        colab = nbformat.read(DOCS / "_build" / "colab" / f"{name}.ipynb", as_version=4)
        executed = nbformat.read(DOCS / "_build" / "jupyter_execute" / f"{name}.ipynb", 4)
        nbformat.validate(colab)
        code = [c.source for c in colab.cells if c.cell_type == "code"]
        want = [c.source for c in executed.cells if c.cell_type == "code"]
        assert [s.removeprefix("# raises an exception on purpose\n") for s in code[1:]] == want
        assert "rnnguide-setup" in colab.cells[1].metadata["tags"]
        # the theme's download button serves the same notebook: setup cell first
        download = DOCS / "_build" / "html" / "_sources" / f"{name}.ipynb"
        assert f"_sources/{name}.ipynb" in html
        assert nbformat.read(download, as_version=4) == colab, name


ROLE_LEFT = re.compile(r"\{(doc|ref|keras-src)\}`|\]\((?!https?:)[^)]*\.md[)#]")


@built
def test_notebooks_have_links_not_myst_roles():
    # Jupyter and Colab render Markdown: a {doc}/{ref} role would show raw
    pages, linked = executed_pages(), 0
    for name in pages:
        colab = nbformat.read(DOCS / "_build" / "colab" / f"{name}.ipynb", as_version=4)
        source = DOCS / f"{name}.md"
        had_roles = bool(ROLE_LEFT.search(source.read_text()))
        for cell in colab.cells:
            if cell.cell_type == "markdown":
                assert not ROLE_LEFT.search(cell.source), (name, cell.source[:300])
        text = "".join(c.source for c in colab.cells if c.cell_type == "markdown")
        linked += had_roles and "](" in text
    assert linked >= 10, linked


@built
def test_notebooks_carry_the_outputs_of_the_build():
    # "its outputs are from that run": every page prints something or shows a report,
    # so each notebook has outputs, the same number of outputs as its HTML page has
    for name in executed_pages():
        colab = nbformat.read(DOCS / "_build" / "colab" / f"{name}.ipynb", as_version=4)
        outputs = [o for c in colab.cells if c.cell_type == "code" for o in c.outputs]
        assert outputs, f"{name}.ipynb has no outputs"
        html = (DOCS / "_build" / "html" / f"{name}.html").read_text()
        assert html.count('class="cell_output') <= sum(
            1 for c in colab.cells if c.cell_type == "code" and c.outputs
        ), name
