"""User-facing errors and warnings.

Every problem a user can cause is reported as a :class:`Problem` that names the file, the
document inside it, the field path (``spec.x.y``), what is wrong and how to fix it. The CLI
turns a :class:`UserError` into exit status 2 with one readable paragraph per problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Problem:
    """One error or warning about a user's input."""

    message: str
    path: str = ""
    fix: str = ""
    file: str = ""
    document: str = ""

    def located(self, *, file: str = "", document: str = "") -> Problem:
        """Return a copy that names the file and document when it does not already."""
        return replace(self, file=self.file or file, document=self.document or document)

    def render(self) -> str:
        where = ", ".join(part for part in (self.file, self.document) if part)
        head = f"{where}: " if where else ""
        field = f"{self.path}: " if self.path else ""
        tail = f" Fix: {self.fix}" if self.fix else ""
        return f"{head}{field}{self.message}{tail}"


class UserError(Exception):
    """One or more problems with the user's input; the CLI exits with status 2."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(p.render() for p in self.problems))

    @classmethod
    def single(cls, message: str, *, path: str = "", fix: str = "", file: str = "") -> UserError:
        return cls([Problem(message=message, path=path, fix=fix, file=file)])
