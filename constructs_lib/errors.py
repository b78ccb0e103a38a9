"""User-facing errors and warnings.

Every problem a user can cause is reported as a :class:`Problem` that names the file, the
document inside it, the field path (``spec.x.y``), what is wrong and how to fix it. The CLI
turns a :class:`UserError` into exit status 2 with one readable paragraph per problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

T = TypeVar("T")
Item = TypeVar("Item")


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


def collect(problems: list[Problem], step: Callable[[], T]) -> T | None:
    """``step()``, or None with the problems of its :class:`UserError` added to ``problems``
    (to report every problem at once)."""
    try:
        return step()
    except UserError as error:
        problems += error.problems
        return None


def collect_each(
    items: Iterable[Item], step: Callable[[Item], T], file: Callable[[Item], str] = lambda _: ""
) -> tuple[list[T], list[Problem]]:
    """``step`` of every item that succeeds, and the problems of the :class:`UserError` of the
    others, located in ``file(item)`` (to report every problem at once)."""
    done: list[T] = []
    problems: list[Problem] = []
    for item in items:
        try:
            done.append(step(item))
        except UserError as error:
            problems += [p.located(file=file(item)) for p in error.problems]
    return done, problems
