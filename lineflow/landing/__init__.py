"""The landing zone: every response body as received, written once, under a fixed layout.

    {root}/{source}/{endpoint}/{slate_date}/{pass_id}/{stem}.json

`pass_id` is `live-YYYYMMDDTHHMMSSZ` or `history-YYYYMMDDTHHMMSSZ` (UTC). A file put there by
hand in this layout is picked up by the next run of its partition.

`Landing` is the protocol every stage uses; `LandingZone` keeps it on a local disk and
`lineflow.landing.gcs.GcsLanding` in a bucket (`landing.url=gs://BUCKET/PREFIX`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.core.errors import ConfigError
from lineflow.landing.base import (
    LAYOUT_RE,
    PASS_RE,
    BadSidecar,
    Landing,
    LandingConflict,
    LandingPath,
    Sidecar,
    check_sidecar,
    file_id,
    pass_id,
    pass_time,
)
from lineflow.landing.local import LandingZone

if TYPE_CHECKING:
    from lineflow.config import LandingConfig


def open_landing(config: LandingConfig) -> Landing:
    """The bucket when `landing.url` is set, else the local directory `landing.root`."""
    if config.url:
        try:
            from lineflow.landing.gcs import GcsLanding
        except ImportError:
            raise ConfigError(
                "landing.url: a bucket needs gcsfs (pip install 'lineflow[prod]')"
            ) from None

        return GcsLanding(config.url)
    return LandingZone(config.root)


__all__ = [
    "LAYOUT_RE",
    "PASS_RE",
    "BadSidecar",
    "Sidecar",
    "Landing",
    "LandingConflict",
    "LandingPath",
    "LandingZone",
    "check_sidecar",
    "file_id",
    "open_landing",
    "pass_id",
    "pass_time",
]
