"""MkDocs hook: publish every file of ``benchmarks/results/`` under ``results/`` in the site.

The records stay where the benchmarks write them; the pages link them as ``results/<name>`` (pictures shown
inline), and ``mkdocs build --strict`` fails on a link to a record that does not exist.
"""

from __future__ import annotations

import os

from mkdocs.structure.files import File

RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


def on_files(files, config):
    for name in sorted(os.listdir(os.path.join(RESULTS, "results"))):
        files.append(File(f"results/{name}", RESULTS, config["site_dir"], config["use_directory_urls"]))
    return files
