"""`lineflow rules [key=value ...]`: the configured validation rules and the gate's thresholds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, output_format

if TYPE_CHECKING:
    from lineflow.cli.keys import Parsed

COMMAND = Command(
    name="rules",
    summary="list the configured validation rules and the line-quality gate",
    usage=("[key=value ...]",),
    about="""\
List every rule of conf/rules/*.yaml: id, kind, table, severity, blocking and thresholds, then
the line-quality gate's thresholds (conf/line_quality). A malformed rule file fails here with
the rule id and the problem (exit 2). Format: docs/rules.md.""",
    keys=(output_format(),),
    config=(("line_quality.KEY=...", "a gate threshold"),),
    exit_codes="0 listed, 2 bad input or a malformed rule",
    examples=("lineflow rules", "lineflow rules env=prod"),
)


def main(args: Parsed) -> int:
    from lineflow.config import compose

    COMMAND.no_words(args)
    settings = compose(args.overrides)
    rules = settings.rule_list()
    if args.values["format"] == "json":
        from lineflow.reporting.output import emit

        emit(
            {
                "rules": [
                    {
                        "id": r.id,
                        "kind": r.kind,
                        "table": r.table,
                        "severity": r.severity,
                        "blocking": r.blocking,
                        "thresholds": r.thresholds(),
                    }
                    for r in rules
                ],
                "line_quality": settings.line_quality.model_dump(mode="json"),
            }
        )
        return 0
    width = max((len(r.id) for r in rules), default=2) + 2
    print(f"{'id':<{width}}{'kind':<18}{'table':<12}severity")
    for rule in rules:
        severity = rule.severity + (" blocking" if rule.blocking else "")
        print(f"{rule.id:<{width}}{rule.kind:<18}{rule.table:<12}{severity}")
        print(f"    {_thresholds(rule.thresholds())}")
    print(f"{len(rules)} rules; line-quality gate:")
    print(f"    {_thresholds(settings.line_quality.model_dump())}")
    return 0


def _thresholds(values: dict[str, object]) -> str:
    return " ".join(f"{k}={_plain(v)}" for k, v in values.items())


def _plain(value: object) -> str:
    if isinstance(value, list | tuple):
        return "[" + ",".join(_plain(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_plain(v)}" for k, v in value.items()) + "}"
    return str(value)
