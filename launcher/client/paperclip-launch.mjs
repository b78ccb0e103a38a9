#!/usr/bin/env node
// paperclip-launch: the command Paperclip's `process` adapter runs for an agent.
//
// It asks the launcher service to start the run as a Kubernetes Job, prints the run's log
// lines to stdout as they arrive, and exits with the run's exit code. Node.js 20+ built-ins
// only (the Paperclip image has no extra npm packages).
//
//   node paperclip-launch.mjs --template opencode [--timeout SECONDS]
//
// Environment: PAPERCLIP_AGENT_ID, PAPERCLIP_COMPANY_ID, PAPERCLIP_RUN_ID, PAPERCLIP_API_KEY
// (set by the process adapter), AGENT_LAUNCHER_URL and AGENT_LAUNCHER_TOKEN (set on the
// Paperclip pod by paperclip-gitops).
//
// SIGTERM (Paperclip cancel, timeout or shutdown) cancels the run and exits 143. A broken
// stream is resumed from the last line received; nothing is printed twice. The client gives
// up only when the launcher stays unreachable for AGENT_LAUNCHER_RESUME_MS (default 5
// minutes) in one stretch: every answer and every record received starts the window anew.

const RESUME_WINDOW_MS = Number(process.env.AGENT_LAUNCHER_RESUME_MS || 300000);

function fail(message, code = 1) {
  process.stderr.write(`[paperclip-launch] ${message}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const options = { template: "", timeout: null };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === "--template") options.template = argv[++i] || "";
    else if (argv[i] === "--timeout") options.timeout = Number(argv[++i]);
    else fail(`unknown argument ${argv[i]}; usage: --template NAME [--timeout SECONDS]`, 2);
  }
  if (!options.template) fail("--template NAME is required", 2);
  return options;
}

const options = parseArgs(process.argv.slice(2));
const base = (process.env.AGENT_LAUNCHER_URL || "").replace(/\/+$/, "");
const token = process.env.AGENT_LAUNCHER_TOKEN || "";
const runId = process.env.PAPERCLIP_RUN_ID || "";
for (const [name, value] of [
  ["AGENT_LAUNCHER_URL", base], ["AGENT_LAUNCHER_TOKEN", token],
  ["PAPERCLIP_AGENT_ID", process.env.PAPERCLIP_AGENT_ID], ["PAPERCLIP_RUN_ID", runId],
  ["PAPERCLIP_COMPANY_ID", process.env.PAPERCLIP_COMPANY_ID],
]) {
  if (!value) fail(`${name} is not set`, 2);
}
const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };

let cancelling = false;
let current = null; // AbortController of the open stream

async function cancelAndExit() {
  if (cancelling) return;
  cancelling = true;
  if (current) current.abort();
  try {
    await fetch(`${base}/v1/runs/${encodeURIComponent(runId)}`, {
      method: "DELETE", headers, signal: AbortSignal.timeout(10000),
    });
    process.stderr.write("[paperclip-launch] run cancelled\n");
  } catch (error) {
    process.stderr.write(`[paperclip-launch] cancel failed: ${error.message}\n`);
  }
  process.exit(143);
}
process.on("SIGTERM", cancelAndExit);
process.on("SIGINT", cancelAndExit);

function write(text) {
  return new Promise((resolve) => {
    if (process.stdout.write(text)) resolve();
    else process.stdout.once("drain", resolve);
  });
}

async function start() {
  const body = {
    agentId: process.env.PAPERCLIP_AGENT_ID,
    companyId: process.env.PAPERCLIP_COMPANY_ID,
    runId,
    template: options.template,
  };
  if (process.env.PAPERCLIP_API_KEY) body.apiKey = process.env.PAPERCLIP_API_KEY;
  if (options.timeout !== null) body.timeoutSeconds = options.timeout;
  let response;
  try {
    response = await fetch(`${base}/v1/runs`, {
      method: "POST", headers, body: JSON.stringify(body), signal: AbortSignal.timeout(30000),
    });
  } catch (error) {
    fail(`cannot reach the launcher at ${base}: ${error.cause?.code || error.message}`);
  }
  const answer = await response.json().catch(() => ({}));
  if (response.status === 409) fail(`agent busy: ${answer.message || "another run is active"}`);
  if (!response.ok) fail(`the launcher refused the run (${response.status}): ${answer.message}`);
  process.stderr.write(`[paperclip-launch] ${answer.reattached ? "reattached to" : "started"} ` +
    `job ${answer.job}\n`);
}

// The launcher answered or sent a record: an outage (if any) is over.
function progress(state) {
  state.brokenSince = 0;
  state.delay = 500;
}

// One pass over the log stream; returns the result record, or null if the stream broke.
async function streamOnce(state) {
  current = new AbortController();
  const query = state.cursor ? `?after=${encodeURIComponent(state.cursor)}` : "";
  const response = await fetch(`${base}/v1/runs/${encodeURIComponent(runId)}/log${query}`, {
    headers, signal: current.signal,
  });
  if (response.status === 404) fail("the launcher does not know this run (was it deleted?)");
  if (response.status === 400 || response.status === 401) {
    const answer = await response.json().catch(() => ({}));
    fail(`the launcher refused the log stream (${response.status}): ${answer.message}`);
  }
  if (!response.ok) throw new Error(`log stream answered ${response.status}`);
  progress(state);
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const record = JSON.parse(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
      progress(state);
      if (record.type === "line") {
        await write(`${record.text}\n`);
        state.cursor = record.cursor;
      } else if (record.type === "result") {
        return record;
      }
    }
  }
  return null;
}

async function main() {
  await start();
  const state = { cursor: "", brokenSince: 0, delay: 500 };
  for (;;) {
    let result = null;
    try {
      result = await streamOnce(state);
    } catch (error) {
      if (cancelling) return;
      process.stderr.write(`[paperclip-launch] log stream broke (${error.cause?.code ||
        error.message}); reattaching\n`);
    }
    if (result) {
      if (result.sessionId) process.stderr.write(`[paperclip-launch] session ${result.sessionId}\n`);
      if (result.usage) process.stderr.write(`[paperclip-launch] usage ${JSON.stringify(result.usage)} cost ${result.costUsd}\n`);
      if (result.errorMessage) process.stderr.write(`[paperclip-launch] ${result.errorMessage}\n`);
      process.stderr.write(`[paperclip-launch] result ${JSON.stringify(result)}\n`);
      process.exit(Number.isInteger(result.exitCode) ? result.exitCode : 1);
    }
    if (!state.brokenSince) state.brokenSince = Date.now();
    if (Date.now() - state.brokenSince > RESUME_WINDOW_MS) {
      fail(`the launcher at ${base} stayed unreachable for ${RESUME_WINDOW_MS / 1000}s`);
    }
    await new Promise((resolve) => setTimeout(resolve, state.delay));
    state.delay = Math.min(state.delay * 2, 5000);
  }
}

main().catch((error) => fail(error.stack || String(error)));
