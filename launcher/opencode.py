"""Parse OpenCode `run --format json` output (one JSON event per line) into a run result."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

UNKNOWN_SESSION = re.compile(
    r"unknown session|session .* not found|notfounderror|no session", re.IGNORECASE
)
STEP_LIMIT_REASONS = {"max_turns", "max_steps", "step_limit"}


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
        try:
            event = json.loads(line)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        if isinstance(event.get("sessionID"), str):
            self.session_id = event["sessionID"]
        raw_part = event.get("part")
        part: dict[str, Any] = raw_part if isinstance(raw_part, dict) else {}
        kind = event.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            self.summary.append(part["text"])
        elif kind == "step_finish":
            tokens = part.get("tokens") or {}
            self.input_tokens += int(tokens.get("input") or 0)
            self.cached_input_tokens += int((tokens.get("cache") or {}).get("read") or 0)
            self.output_tokens += int(tokens.get("output") or 0) + int(tokens.get("reasoning") or 0)
            self.cost_usd += float(part.get("cost") or 0)
            if part.get("reason") in STEP_LIMIT_REASONS:
                self.clear_session = True
        elif kind == "tool_use":
            state = part.get("state") or {}
            if state.get("status") == "error" and state.get("error"):
                self.errors.append(str(state["error"]))
        elif kind == "error":
            error = event.get("error") or {}
            data = error.get("data") or {}
            message = (
                error.get("message")
                or data.get("message")
                or error.get("name")
                or error.get("code")
            )
            if message:
                self.errors.append(str(message))

    def to_record(self, exit_code: int) -> dict[str, Any]:
        error_code = None
        if any(UNKNOWN_SESSION.search(e) for e in self.errors):
            error_code, self.clear_session = "session_unavailable", True
        elif self.session_id and self.output_tokens == 0 and not self.summary:
            error_code = "llm_api_error"
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
        }
