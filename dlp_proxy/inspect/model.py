"""The values inspection passes between its stages and returns: sheets in, findings out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

UnscannableReason = Literal[
    "encrypted", "corrupt", "limit", "unsupported", "ambiguous", "image-only"
]
UNSCANNABLE_REASONS: tuple[UnscannableReason, ...] = (
    "encrypted",
    "corrupt",
    "limit",
    "unsupported",
    "ambiguous",
    "image-only",
)
# How a file was read: its tables went through detection, its text did, its contents were
# listed (each of them is a file of its own), or it is a kind that cannot carry a list
# (images, audio, video, fonts: decided by content). docs/inspection.md, "Completeness".
ReadAs = Literal["table", "text", "container", "not-applicable"]
READ_AS: tuple[ReadAs, ...] = ("table", "text", "container", "not-applicable")
Status = Literal["read", "not-applicable", "unscannable"]


class Unscannable(Exception):
    """Raised inside inspection when a file cannot be read; becomes a finding, never a failure.

    ``detail`` is for admins and logs: it names the problem, never cell values.
    """

    def __init__(self, reason: UnscannableReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: UnscannableReason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Sheet:
    """One table as read from a file: cell values as the reader gives them (str, int, float,
    bool, date/datetime, or None for an empty cell), rows in file order."""

    name: str
    rows: Sequence[Sequence[object]]
    hidden: bool = False


@dataclass(frozen=True, slots=True)
class Column:
    """A column the detector recognised as carrying one kind of value."""

    sheet: str
    header: str | None
    kind: str
    index: int


@dataclass(frozen=True, slots=True)
class TableFindings:
    """What the detector found in all sheets of one file."""

    rows: int
    personal_rows: int
    persons: int
    columns: tuple[Column, ...] = ()
    samples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file inside the message: a MIME part, or a member of an archive (``a.zip/b.csv``)."""

    path: str
    type: str
    size: int
    personal_rows: int = 0
    persons: int = 0
    columns: tuple[Column, ...] = ()
    samples: tuple[str, ...] = ()
    unscannable: UnscannableReason | None = None
    detail: str | None = None
    # The IMAP section number of the top-level MIME part this file is in (for a member of a
    # zip: the zip's part); actions rewrite by it. None outside messages and for damage.
    section: str | None = None
    # How inspection read it; None when nothing was read (then ``unscannable`` says why).
    read_as: ReadAs | None = None

    @property
    def status(self) -> Status:
        """Read, not applicable (cannot carry a list), or unscannable (the policy decides)."""
        if self.unscannable is not None or self.read_as is None:
            return "unscannable"
        return "not-applicable" if self.read_as == "not-applicable" else "read"
