"""Named training recipes on the command line: ``python algos/ppo.py <recipe> [--any flag to override]``.

A recipe is a complete, named set of a script's arguments (a dataclass instance with a one-line
description), kept as code next to the script that runs it, so that the command behind every shipped
policy is one name that cannot drift from the policy (``tests/test_recipes.py`` builds each shipped
policy's recipe and compares its task with the shipped one). Flags after the name override the recipe's
values (tyro's defaults), as Isaac Lab's and mjlab's registered task configurations are overridden.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import TypeVar

T = TypeVar("T")
Recipes = dict[str, tuple[str, object]]
"""``{name: (one-line description, arguments)}``."""


def recipes_help(recipes: Recipes, script: str) -> str:
    """The recipe list of ``--help``: one line per recipe."""
    width = max(map(len, recipes))
    lines = [f"  {name:<{width}}  {desc}" for name, (desc, _) in recipes.items()]
    return (f"Recipes (python {script} <recipe> [--flag value ...]; flags override the recipe; without a name, the "
            f"defaults below):\n" + "\n".join(lines))


def recipe_cli(cls: type[T], recipes: Recipes, doc: str, script: str, argv: list[str] | None = None) -> T:
    """Parse ``[<recipe>] [--flag value ...]`` into ``cls``: the recipe's values, overridden by the flags.

    The returned arguments remember the recipe and the flags (fields ``recipe`` and ``overrides`` of ``cls``),
    so that a checkpoint, and the policy shipped from it, records how it was made.

    Raises:
        SystemExit: An unknown recipe name (with the list), or a bad flag (tyro's message).
    """
    import tyro

    argv = list(sys.argv[1:] if argv is None else argv)
    name = argv.pop(0) if argv and argv[0] in recipes else None
    if name is None and argv and not argv[0].startswith("-"):
        sys.exit(f"unknown recipe {argv[0]!r}; expected one of: {', '.join(recipes)}\n\n"
                 f"{recipes_help(recipes, script)}")
    default = recipes[name][1] if name else cls()
    header = f"recipe {name!r}: {recipes[name][0]}\n\n" if name else ""
    args = tyro.cli(cls, default=default, args=argv,
                    description=f"{doc.strip()}\n\n{header}{recipes_help(recipes, script)}")
    return dataclasses.replace(args, recipe=name, overrides=tuple(argv))
