"""Validation rules (conf/rules/*.yaml) and the line-quality gate, as pure functions.

`evaluate(rules, frame, facts)` judges the partition's rows; `line_quality(lines, settings)` says
per player and market whether predictions may use the line, and if not, why.
"""

from lineflow.rules.evaluate import Circumstances, Evaluation, Finding, evaluate
from lineflow.rules.gate import LINE_QUALITY, line_quality
from lineflow.rules.model import LineQualityConfig, RuleFile

__all__ = [
    "LINE_QUALITY",
    "Circumstances",
    "Evaluation",
    "Finding",
    "LineQualityConfig",
    "RuleFile",
    "evaluate",
    "line_quality",
]
