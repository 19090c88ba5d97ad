"""Metric names in PromQL expressions and in the registries, for the dashboard and rule tests."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

# Words of PromQL that are not metric names: operators, modifiers, and what follows `by`/`on` (label lists).
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_TEMPLATES = re.compile(r"\{\{[^}]*\}\}")
_WORD = re.compile(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_DURATION = re.compile(r"^\d")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (not functions, keywords, labels or Grafana variables)."""
    e = _TEMPLATES.sub(" ", expr)
    e = _STRINGS.sub('""', e)
    e = _MATCHERS.sub(" ", e)
    e = _RANGES.sub(" ", e)
    e = _LABEL_LISTS.sub(" ", e)
    return {w for w in _WORD.findall(e) if w not in KEYWORDS and not _DURATION.match(w)}


def exposed_names(*registries: CollectorRegistry) -> set[str]:
    """Every series name the registries can expose, with the suffixes of counters, histograms and infos."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created", ""),
        "info": ("_info",),
        "gauge": ("",),
        "unknown": ("",),
    }
    out: set[str] = set()
    for registry in registries:
        for family in registry.collect():
            out |= {family.name + s for s in suffixes[family.type]}
            out |= {s.name for s in family.samples}
    return out
