"""`--cfg job|all [--resolve]` and `--info`, as Hydra apps have them: show, run nothing."""

from __future__ import annotations

from lineflow.errors import ConfigError

SHOW_KEYS = """\
  --cfg job|all          print the composed config (all: with Hydra's own node) and exit;
                         --resolve resolves interpolations; secrets are env-var names only
  --info                 print the config search path and exit
"""


def show(args: list[str]) -> tuple[str | None, list[str]]:
    """The text `--cfg`/`--info` ask for (None when neither is given), and the other words."""
    from lineflow.config import render_config, render_search_path

    which: str | None = None
    info = resolve = False
    rest: list[str] = []
    words = iter(args)
    for word in words:
        if word == "--cfg":
            which = next(words, "")
        elif word.startswith("--cfg="):
            which = word.removeprefix("--cfg=")
        elif word == "--info":
            info = True
        elif word == "--resolve":
            resolve = True
        else:
            rest.append(word)
    if which is not None and which not in ("job", "all"):
        raise ConfigError(f"--cfg: expected job or all, got {which!r}")
    if which == "job" or which == "all":
        return render_config(rest, which, resolve=resolve), rest
    if info:
        return render_search_path(), rest
    return None, rest
