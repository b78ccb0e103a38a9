"""Parse OpenCode `run --format json` output (one JSON event per line) into a run result."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from launcher.views import as_dict

# The phrases by which OpenCode reports a session it no longer has (the same test as
# Paperclip's own OpenCode adapter, @paperclipai/adapter-opencode-local).
UNKNOWN_SESSION = re.compile(
    r"unknown\s+session|session\b.*\bnot\s+found|resource\s+not\s+found:.*[\\/]session[\\/].*\.json"
    r"|notfounderror|no session",
    re.IGNORECASE,
)
SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
STEP_LIMIT_REASONS = {"max_turns", "max_steps", "step_limit"}
MAX_SAFE_INTEGER = 2**53 - 1


def _number(value: Any) -> float:
    """A count or cost as OpenCode writes it: a finite, positive number that JavaScript can
    read back exactly (else 0; NaN or Infinity would make the result invalid JSON)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return value if 0 < value <= MAX_SAFE_INTEGER else 0  # False for NaN


def _count(value: Any) -> int:
    return int(_number(value))


def _amount(value: Any) -> float:
    return float(_number(value))


@dataclass
class OpenCodeResult:
    session_id: str | None = None
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    summary: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    clear_session: bool = False

    def feed(self, line: str) -> None:
        """One line of the run's output. Lines that are not OpenCode events, and fields of an
        unexpected shape (a string error, tokens that are no number), are ignored: the log
        also carries whatever else the container printed, and the result must always come."""
        try:
            event = json.loads(line)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        session = event.get("sessionID")
        # only an id the next run can pass on safely (`--session ID`) is kept
        if isinstance(session, str) and SESSION_ID.match(session):
            self.session_id = session
        part = as_dict(event.get("part"))
        kind = event.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            self.summary.append(part["text"])
        elif kind == "step_finish":
            tokens = as_dict(part.get("tokens"))
            self.input_tokens += _count(tokens.get("input"))
            self.cached_input_tokens += _count(as_dict(tokens.get("cache")).get("read"))
            self.output_tokens += _count(tokens.get("output")) + _count(tokens.get("reasoning"))
            self.cost_usd += _amount(part.get("cost"))
            if part.get("reason") in STEP_LIMIT_REASONS:
                self.clear_session = True
        elif kind == "tool_use":
            state = as_dict(part.get("state"))
            if state.get("status") == "error" and state.get("error"):
                self.errors.append(str(state["error"]))
        elif kind == "error":
            raw_error = event.get("error")
            if isinstance(raw_error, str):
                message: Any = raw_error
            else:
                error = as_dict(raw_error)
                message = (
                    error.get("message")
                    or as_dict(error.get("data")).get("message")
                    or error.get("name")
                    or error.get("code")
                )
            if message:
                self.errors.append(str(message))

    def feed_text(self, text: str) -> None:
        """Lines of the run's output that are not JSON events still count for the unknown
        session test (OpenCode prints some errors as plain text)."""
        for line in text.splitlines():
            stripped = line.strip()
            if stripped and not stripped.startswith("{") and UNKNOWN_SESSION.search(stripped):
                self.errors.append(stripped[:500])

    def to_record(self, exit_code: int, resumed: str | None = None) -> dict[str, Any]:
        """The result fields; ``resumed`` is the session the run was asked to continue."""
        error_code = None
        message = None
        if any(UNKNOWN_SESSION.search(e) for e in self.errors):
            error_code, self.clear_session = "session_unavailable", True
            message = (
                f"the OpenCode session {resumed or '(unknown)'} is no longer available; "
                "it is cleared, and the agent's next run starts a new session"
            )
        elif self.session_id and self.output_tokens == 0 and not self.summary:
            error_code = "llm_api_error"
            message = (
                f"OpenCode started session {self.session_id} but got no reply from the model "
                "(no text, no output tokens): most likely its API call failed; see the run log"
            )
        return {
            "sessionId": self.session_id,
            "usage": {
                "inputTokens": self.input_tokens,
                "outputTokens": self.output_tokens,
                "cachedInputTokens": self.cached_input_tokens,
            },
            "costUsd": round(self.cost_usd, 6),
            "summary": "\n".join(self.summary).strip(),
            "errors": self.errors,
            "errorCode": error_code,
            "clearSession": self.clear_session,
            "exitCode": 1 if exit_code == 0 and self.errors else exit_code,
            **({"errorMessage": message} if message else {}),
        }
