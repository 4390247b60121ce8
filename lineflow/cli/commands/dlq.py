"""`lineflow dlq [replay ID | replay all=true]`: see and re-queue dead letters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, Key, boolean, output_format

if TYPE_CHECKING:
    from lineflow.cli.keys import Parsed
    from lineflow.state.work import DeadLetter

COMMAND = Command(
    name="dlq",
    summary="list dead letters (work that failed for good); replay them after a fix",
    usage=(
        "[replayed=true] [key=value ...]",
        "replay ID [key=value ...]",
        "replay all=true [key=value ...]",
    ),
    about="""\
Dead letters are units of work that can never succeed as they are (a landed file that does not
parse, a malformed or stale trigger message) or that failed work.max_attempts times. Each names
its reason and a pointer to its payload (landing:PATH for a landed file; the message itself is
kept). `replay` re-queues them after a fix: a landed file is processed again by the next run of
its partition; a trigger message is handled again now, in this process (its age is not checked
again).""",
    keys=(
        Key("replayed", boolean, False, "also list the dead letters replayed already", "true"),
        Key("all", boolean, False, "with `replay`: every open dead letter", "true"),
        output_format(),
    ),
    actions=("replay",),
    exit_codes="0 done, 1 a replayed message failed again, 2 bad input (unknown id)",
    examples=("lineflow dlq home=/tmp/lf", "lineflow dlq replay all=true home=/tmp/lf"),
)


def main(args: Parsed) -> int:
    from lineflow.config import compose
    from lineflow.core.errors import ConfigError
    from lineflow.ops.repairs import replay_dead_letter
    from lineflow.reporting.output import emit
    from lineflow.state import open_state
    from lineflow.state.work import WorkQueue

    words, own = args.words, args.values
    json_out = own["format"] == "json"
    settings = compose(args.overrides)
    queue = WorkQueue(open_state(settings, create=False), settings.work)
    if not words:
        letters = queue.dead_letters(include_replayed=own["replayed"])
        if json_out:
            emit({"dead_letters": [_letter(d) for d in letters]})
            return 0
        return _list(letters)
    if words[0] != "replay":
        raise ConfigError(f"unknown action {words[0]!r} (expected: replay)")
    if own["all"] and len(words) == 1:
        letters = queue.dead_letters()
    elif len(words) == 2 and words[1].isdigit() and not args.given - {"format"}:
        letter = queue.dead_letter(int(words[1]))
        if letter is None or letter.replayed_at is not None:
            raise ConfigError(f"no open dead letter {words[1]} (see `lineflow dlq`)")
        letters = [letter]
    else:
        raise ConfigError("expected `lineflow dlq replay ID` or `lineflow dlq replay all=true`")
    outcomes = [replay_dead_letter(settings, queue, letter) for letter in letters]
    failed = sum(not ok for ok, _ in outcomes)
    if json_out:
        emit(
            {
                "replayed": len(letters),
                "failed_again": failed,
                "outcomes": [said for _, said in outcomes],
            }
        )
    else:
        for _, said in outcomes:
            print(said)
        print(f"{len(letters)} dead letters replayed, {failed} failed again")
    return 1 if failed else 0


def _letter(d: DeadLetter) -> dict[str, object]:
    """A dead letter as `format=json` shows it (the payload itself stays in the store)."""
    return {
        "id": d.id,
        "kind": d.kind,
        "key": d.key,
        "partition": d.partition,
        "reason": d.reason,
        "permanent": bool(d.permanent),
        "attempts": d.attempts,
        "payload_ref": d.payload_ref,
        "created": d.created,
        "replayed_at": d.replayed_at,
    }


def _list(letters: list[DeadLetter]) -> int:
    if not letters:
        print("no dead letters")
        return 0
    for d in letters:
        replayed = " (replayed)" if d.replayed_at is not None else ""
        print(
            f"{d.id:>5}  {d.created:%Y-%m-%d %H:%M:%S}Z  {d.kind:<8} {d.partition or '-':<10}  "
            f"attempts {d.attempts:<3} {d.payload_ref}{replayed}\n       reason: {d.reason}"
        )
    print(f"{len(letters)} dead letters")
    return 0
