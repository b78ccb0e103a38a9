// The launcher's HTTP API as the adapter uses it (Node.js built-ins only: fetch, streams).
// A broken log stream is resumed from the last line received, so nothing is lost or
// repeated; the client gives up only when the launcher stays unreachable for `resumeMs` in
// one stretch (every answer and every record starts the window anew).

export class LauncherError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const MAX_CHUNK = 32 * 1024; // Paperclip keeps a log chunk whole up to 64 KiB

export class LauncherClient {
  constructor(baseUrl, token, { fetchImpl = fetch, resumeMs = 300000, sleep } = {}) {
    this.base = String(baseUrl || "").replace(/\/+$/, "");
    this.headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    this.fetch = fetchImpl;
    this.resumeMs = resumeMs;
    this.sleep = sleep || ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async call(method, path, body, timeoutMs = 30000) {
    let response;
    try {
      response = await this.fetch(`${this.base}${path}`, {
        method,
        headers: this.headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new LauncherError(
        "launcher_unreachable",
        `cannot reach the launcher at ${this.base}: ${error.cause?.code || error.message}`,
      );
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const code = answer.error || `http_${response.status}`;
      const message =
        response.status === 401
          ? "the launcher refused the token (AGENT_LAUNCHER_TOKEN)"
          : `the launcher answered ${response.status}: ${answer.message || code}`;
      throw new LauncherError(code, message, response.status);
    }
    return answer;
  }

  start(request) {
    return this.call("POST", "/v1/runs", request);
  }

  cancel(runId) {
    return this.call("DELETE", `/v1/runs/${encodeURIComponent(runId)}`, undefined, 15000);
  }

  templates() {
    return this.call("GET", "/v1/templates", undefined, 10000);
  }

  selfTest(template) {
    const query = template ? `?template=${encodeURIComponent(template)}` : "";
    return this.call("GET", `/v1/self-test${query}`, undefined, 20000);
  }

  async health() {
    try {
      const response = await this.fetch(`${this.base}/healthz`, {
        signal: AbortSignal.timeout(10000),
      });
      return response.ok;
    } catch {
      return false;
    }
  }

  /**
   * Follow the run's log: `onLines(text)` gets batches of whole lines (each batch ends with a
   * newline and stays under 32 KiB unless one line is longer) in order; `onNote(text)` gets
   * the client's own remarks (a broken stream). Resolves with the result record, or null
   * when `signal` aborts.
   */
  async follow(runId, { onLines, onNote, signal }) {
    const state = { cursor: "", brokenSince: 0, delay: 500 };
    for (;;) {
      if (signal?.aborted) return null;
      let result = null;
      try {
        result = await this.streamOnce(runId, state, onLines, signal);
      } catch (error) {
        if (signal?.aborted) return null;
        if (error instanceof LauncherError && error.status !== 0) throw error;
        await onNote(`log stream broke (${error.cause?.code || error.message}); reattaching`);
      }
      if (result) return result;
      if (!state.brokenSince) state.brokenSince = Date.now();
      if (Date.now() - state.brokenSince > this.resumeMs) {
        throw new LauncherError(
          "launcher_unreachable",
          `the launcher at ${this.base} stayed unreachable for ${this.resumeMs / 1000}s`,
        );
      }
      await this.sleep(state.delay);
      state.delay = Math.min(state.delay * 2, 5000);
    }
  }

  async streamOnce(runId, state, onLines, signal) {
    const query = state.cursor ? `?after=${encodeURIComponent(state.cursor)}` : "";
    const controller = new AbortController();
    const stop = () => controller.abort();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      const response = await this.fetch(
        `${this.base}/v1/runs/${encodeURIComponent(runId)}/log${query}`,
        { headers: this.headers, signal: controller.signal },
      );
      if (response.status === 404) {
        throw new LauncherError("unknown_run", "the launcher does not know this run", 404);
      }
      if (response.status === 400 || response.status === 401) {
        const answer = await response.json().catch(() => ({}));
        throw new LauncherError(
          answer.error || "refused",
          `the launcher refused the log stream (${response.status}): ${answer.message}`,
          response.status,
        );
      }
      if (!response.ok) throw new Error(`log stream answered ${response.status}`);
      state.brokenSince = 0;
      state.delay = 500;
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let batch = "";
        let cursor = state.cursor;
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const item = JSON.parse(buffer.slice(0, newline));
          buffer = buffer.slice(newline + 1);
          state.brokenSince = 0;
          if (item.type === "line") {
            if (batch && batch.length + item.text.length + 1 > MAX_CHUNK) {
              await onLines(batch);
              state.cursor = cursor;
              batch = "";
            }
            batch += `${item.text}\n`;
            cursor = item.cursor;
          } else if (item.type === "result") {
            if (batch) await onLines(batch);
            state.cursor = cursor;
            return item;
          }
        }
        if (batch) {
          await onLines(batch);
          state.cursor = cursor;
        }
      }
      return null;
    } finally {
      signal?.removeEventListener("abort", stop);
    }
  }
}
