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
