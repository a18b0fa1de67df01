"""Check the documentation's figures against their records.

A figure in ``README.md`` or ``docs/*.md`` is tagged with the record it comes from by an HTML comment right
after it (invisible on GitHub and in the site)::

    success **0.865**<!-- fig dexgrasp_env/policies/depth-scratch.json evaluations.0.success_rate -->
    lifted at 36 min<!-- fig depth_scratch_cpu-2core_2026-12-06.json curve.12.wall_time_s /60 -->

- the record: a file name of ``benchmarks/results/``, or a path from the repository's root;
- the key: a dotted path into the JSON; a number indexes a list (``-1`` the last entry), ``name=value`` picks
  the first entry of a list whose ``name`` equals ``value``; ``%20`` writes a space;
- optionally ``*k`` or ``/k``: the unit the text writes it in (``/60`` seconds as minutes, ``*100`` a fraction
  as a percentage; a figure written with ``%`` right after it is multiplied by 100 without one).

The figure must equal the record's value rounded to the decimals the text shows (``0.87`` matches 0.8652;
``36`` matches 35.5 to 36.5). It also checks that every file in
``benchmarks/results/`` is cited by name in ``docs/``. Run ``python docs/check_figures.py``; ``tests/test_docs.py``
runs it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from urllib.parse import unquote

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
TAG = re.compile(r"(?P<num>(?:(?<=[\s(|])-)?\d[\d,]*(?:\.\d+)?)(?P<pct>\s?%)?[*_`]*\s*"
                 r"<!--\s*fig\s+(?P<file>\S+)\s+(?P<key>\S+)(?:\s+(?P<op>[*/]\d+(?:\.\d+)?))?\s*-->")
ANY_TAG = re.compile(r"<!--\s*fig\b")


def documents() -> list[str]:
    """The README and every page of the site."""
    docs = os.path.join(ROOT, "docs")
    return [os.path.join(ROOT, "README.md")] + sorted(
        os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md"))


def lookup(record, key: str):
    """The value at dotted ``key`` of ``record`` (see the module's docstring)."""
    value = record
    for part in (unquote(p) for p in key.split(".")):
        if isinstance(value, list):
            if "=" in part:
                name, want = part.split("=", 1)
                matches = [v for v in value if isinstance(v, dict) and str(v.get(name)) == want]
                if not matches:
                    raise KeyError(f"no entry with {name}={want}")
                value = matches[0]
            else:
                value = value[int(part)]
        else:
            value = value[part]
    return value


def check_text(text: str, source: str = "<text>") -> tuple[list[str], int]:
    """Errors of the tagged figures in ``text``, and how many tags it holds."""
    errors, records = [], {}
    found = list(TAG.finditer(text))
    if len(found) != len(ANY_TAG.findall(text)):
        tagged = {m.start() + m.group(0).index("<!--") for m in found}
        for m in ANY_TAG.finditer(text):
            if m.start() not in tagged:
                line = text.count("\n", 0, m.start()) + 1
                errors.append(f"{source}:{line}: a fig tag without a number right before it")
    for m in found:
        line = text.count("\n", 0, m.start()) + 1
        where = f"{source}:{line}"
        name = m.group("file")
        path = os.path.join(ROOT, name) if "/" in name else os.path.join(RESULTS, name)
        try:
            if path not in records:
                with open(path) as f:
                    records[path] = json.load(f)
            value = lookup(records[path], m.group("key"))
        except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
            errors.append(f"{where}: {name} {m.group('key')}: {type(e).__name__}: {e}")
            continue
        if not isinstance(value, (int, float)):
            errors.append(f"{where}: {name} {m.group('key')} is {value!r}, not a number")
            continue
        op = m.group("op")
        if op:
            value = value * float(op[1:]) if op[0] == "*" else value / float(op[1:])
        elif m.group("pct"):
            value = value * 100
        text_num = m.group("num").replace(",", "")
        decimals = len(text_num.split(".")[1]) if "." in text_num else 0
        if abs(value - float(text_num)) > 0.5 * 10 ** -decimals + 1e-9:
            errors.append(f"{where}: the text says {m.group('num')}, {name} {m.group('key')} is {value:.6g}")
    return errors, len(found)


def uncited(texts: dict[str, str]) -> list[str]:
    """Files of ``benchmarks/results/`` that no page of ``docs/`` names."""
    site = "\n".join(t for path, t in texts.items() if os.path.dirname(path) == os.path.join(ROOT, "docs"))
    return [name for name in sorted(os.listdir(RESULTS)) if name not in site]


def main() -> int:
    texts = {}
    for path in documents():
        with open(path) as f:
            texts[path] = f.read()
    errors, tags = [], 0
    for path, text in texts.items():
        e, n = check_text(text, os.path.relpath(path, ROOT))
        errors += e
        tags += n
    errors += [f"benchmarks/results/{name} is cited by no page of docs/" for name in uncited(texts)]
    for e in errors:
        print(e)
    print(f"{tags} tagged figures in {len(texts)} documents; {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
