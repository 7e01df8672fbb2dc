"""Rendering helpers for the analysis notebook."""
from tabulate import tabulate


def render(totals, title):
    rows = sorted(totals.items())
    return title + "\n" + tabulate(rows, headers=["region", "total"], floatfmt=".2f")
