"use strict";
// The run transcript in Paperclip's UI for k8s_launcher runs: OpenCode `run --format json`
// events (one JSON object per line) as transcript entries; any other line as plain output.
// A self-contained CommonJS script: the UI evaluates its text in a worker (no imports).

function parse(text) {
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch (error) {
    return null;
  }
}

function obj(value) {
  return value && typeof value === "object" && !Array.isArray(value) ? value : {};
}

function str(value) {
  return typeof value === "string" ? value : "";
}

function num(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

function toolEntries(event, ts) {
  const part = obj(event.part);
  const state = obj(part.state);
  const name = str(part.tool) || "tool";
  const id = str(part.callID) || str(part.id) || name;
  const entries = [{ kind: "tool_call", ts, name, toolUseId: id, input: state.input || {} }];
  const status = str(state.status);
  if (status === "completed" || status === "error") {
    entries.push({
      kind: "tool_result",
      ts,
      toolUseId: id,
      toolName: name,
      content: str(state.output) || str(state.error) || str(part.title) || name + " " + status,
      isError: status === "error",
    });
  }
  return entries;
}

function parseStdoutLine(line, ts) {
  const event = parse(line);
  if (!event) return [{ kind: "stdout", ts, text: line }];
  const part = obj(event.part);
  switch (str(event.type)) {
    case "text": {
      const text = str(part.text).trim();
      return text ? [{ kind: "assistant", ts, text }] : [];
    }
    case "reasoning": {
      const text = str(part.text).trim();
      return text ? [{ kind: "thinking", ts, text }] : [];
    }
    case "tool_use":
      return toolEntries(event, ts);
    case "step_start":
      return [{ kind: "system", ts, text: "step started" + (event.sessionID ? " (" + event.sessionID + ")" : "") }];
    case "step_finish": {
      const tokens = obj(part.tokens);
      const reason = str(part.reason) || "step";
      return [
        {
          kind: "result",
          ts,
          text: reason,
          subtype: reason,
          inputTokens: num(tokens.input),
          outputTokens: num(tokens.output) + num(tokens.reasoning),
          cachedTokens: num(obj(tokens.cache).read),
          costUsd: num(part.cost),
          isError: false,
          errors: [],
        },
      ];
    }
    case "error": {
      const error = obj(event.error);
      const text = str(error.message) || str(obj(error.data).message) || str(error.name) || line;
      return [{ kind: "stderr", ts, text }];
    }
    default:
      return [{ kind: "stdout", ts, text: line }];
  }
}

module.exports = { parseStdoutLine };
