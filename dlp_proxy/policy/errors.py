"""Policy problems, each with the file, line and key it was found at."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from dlp_proxy.errors import DlpProxyError


@dataclass(frozen=True, slots=True)
class Problem:
    file: Path | None
    line: int | None
    key: str
    message: str

    def at(self, file: Path) -> Problem:
        return self if self.file is not None else replace(self, file=file)

    def __str__(self) -> str:
        where = str(self.file) if self.file is not None else "policy"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class PolicyError(DlpProxyError):
    """A policy that cannot be used; nothing of it is applied (all or nothing)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems
