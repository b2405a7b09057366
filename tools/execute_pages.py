"""Execute the site's notebook pages in parallel into MyST-NB's execution cache.

`sphinx-build -j` cannot execute notebooks (its forked workers inherit the
kernels' ZMQ sockets), so pages would run one after another. This script reads
each page with MyST-NB's own reader (so the cache key is the one Sphinx will
look up), executes the pages that have no cached result in separate processes,
and stores each result in the cache from this one process (jupyter-cache's
SQLite database takes one writer). `sphinx-build` in cache mode then only
renders; a page it cannot match is executed there as usual, so nothing can be
skipped by mistake.

Usage: python tools/execute_pages.py docs [--force] [--jobs N]
--force empties the cache first: every page runs again (what CI does, since
the cache keys do not change when rnnguide or TensorFlow do).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

DOCS_EXT = Path(__file__).resolve().parent.parent / "docs" / "_ext"
sys.path.insert(0, str(DOCS_EXT))

from build_settings import CACHE_PATH, CELL_TIMEOUT  # noqa: E402  (docs/_ext)


def read(path: Path):
    from myst_nb.core.config import NbParserConfig
    from myst_nb.core.read import create_nb_reader
    from myst_parser.config.main import MdParserConfig

    text = path.read_text()
    reader = create_nb_reader(str(path), MdParserConfig(), NbParserConfig(), text)
    return None if reader is None else reader.read(text)


def execute(path_str: str):
    from jupyter_cache.executors.utils import single_nb_execution

    path = Path(path_str)
    nb = read(path)
    result = single_nb_execution(nb, cwd=str(path.parent), timeout=CELL_TIMEOUT, allow_errors=False)
    return path_str, nb, result.time, (result.exc_string if result.err else None)


def main(argv=None) -> int:
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", type=Path)
    parser.add_argument("--force", action="store_true", help="empty the cache first")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    # the kernels start quiet, as Sphinx's do (docs/_ext/quiet_tf.py)
    from quiet_tf import quiet_kernels

    quiet_kernels()

    cache_path = CACHE_PATH  # where docs/conf.py tells MyST-NB to look
    cache = get_cache(str(cache_path))
    if args.force and cache_path.exists():
        cache.clear_cache()
        cache = get_cache(str(cache_path))

    todo, solo = [], []  # solo: pages that publish timings run by themselves
    for path in sorted(args.docs.rglob("*.md")):
        if "_build" in path.parts:
            continue
        nb = read(path)
        if nb is None or not any(c.cell_type == "code" for c in nb.cells):
            continue
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            alone = nb.metadata.get("rnnguide", {}).get("run_alone", False)
            (solo if alone else todo).append(str(path))
    print(
        f"executing {len(todo)} page(s) with {args.jobs} worker(s), then {len(solo)} alone",
        flush=True,
    )
    t0 = time.perf_counter()
    failed = []
    ctx = multiprocessing.get_context("spawn")

    def store(result):
        path, nb, seconds, error = result
        if error:
            failed.append(path)
            print(f"FAILED {path}\n{error}", flush=True)
            return
        cache.cache_notebook_bundle(
            CacheBundleIn(nb, path, data={"execution_seconds": seconds}),
            check_validity=False,
            overwrite=True,
        )
        print(f"executed {path} in {seconds:.1f} s", flush=True)

    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx) as pool:
        # the slowest pages first, so the pool does not end on a long tail
        todo.sort(key=lambda p: -Path(p).stat().st_size)
        for fut in as_completed([pool.submit(execute, p) for p in todo]):
            store(fut.result())
    for path in solo:
        store(execute(path))
    print(f"pages executed in {time.perf_counter() - t0:.1f} s", flush=True)
    # a failed page is left to sphinx-build, which re-runs it and fails the
    # build with its own report of the cell
    return 0


if __name__ == "__main__":
    sys.exit(main())
