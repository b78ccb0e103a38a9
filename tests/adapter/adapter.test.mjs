// Unit tests of the adapter module with a stand-in launcher client: cancellation, refusals,
// the environment test and the config form; the transcript parser; the install script.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { LauncherError } from "../../launcher/adapter/launcher-client.mjs";
import {
  createServerAdapter,
  execute,
  getConfigSchema,
  testEnvironment,
} from "../../launcher/adapter/index.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const adapterDir = join(here, "..", "..", "launcher", "adapter");
const { parseStdoutLine } = createRequire(import.meta.url)(join(adapterDir, "ui-parser.cjs"));

function context(extra = {}) {
  const logs = [];
  return {
    logs,
    runId: "run-1",
    agent: { id: "agent-1", companyId: "co", name: "A" },
    config: {},
    context: {},
    runtime: {},
    onLog: async (stream, chunk) => logs.push([stream, chunk]),
    ...extra,
  };
}

class StandIn {
  constructor(overrides = {}) {
    this.base = "http://launcher";
    this.calls = [];
    Object.assign(this, overrides);
  }
  async start(request) {
    this.calls.push(["start", request]);
    return { runId: request.runId, job: "agent-job", reattached: false };
  }
  async cancel(runId) {
    this.calls.push(["cancel", runId]);
    return { cancelled: true };
  }
  async follow(runId, { onLines }) {
    await onLines("one\ntwo\n");
    return { type: "result", job: "agent-job", exitCode: 0, usage: { inputTokens: 1, outputTokens: 2 } };
  }
}

test("the module is what Paperclip's loader expects", () => {
  const module = createServerAdapter();
  assert.equal(module.type, "k8s_launcher");
  assert.equal(typeof module.execute, "function");
  assert.equal(typeof module.testEnvironment, "function");
  assert.equal(module.supportsLocalAgentJwt, true);
  const pkg = JSON.parse(readFileSync(join(adapterDir, "package.json"), "utf8"));
  assert.equal(pkg.exports["."], "./index.mjs");
  assert.equal(pkg.exports["./ui-parser"], "./ui-parser.cjs");
  assert.equal(pkg.paperclip.adapterUiParser.split(".")[0], "1");
});

test("a run: lines to stdout in order, the result with per-run usage", async () => {
  const ctx = context();
  const client = new StandIn();
  const result = await execute(ctx, client);
  assert.equal(result.exitCode, 0);
  assert.equal(result.usageBasis, "per_run");
  assert.deepEqual(
    ctx.logs.filter(([s]) => s === "stdout").map(([, c]) => c),
    ["one\ntwo\n"],
  );
  assert.match(ctx.logs.find(([s]) => s === "stderr")[1], /started job agent-job/);
});

test("without the launcher's URL and token the run fails saying how to fix it", async () => {
  const result = await execute(context(), null);
  assert.equal(result.errorCode, "launcher_unconfigured");
  assert.match(result.errorMessage, /spec\.agents/);
});

test("a busy agent fails the run with the launcher's reason", async () => {
  const client = new StandIn({
    start: async () => {
      throw new LauncherError("agent_busy", "the launcher answered 409: agent a is busy", 409);
    },
  });
  const result = await execute(context(), client);
  assert.equal(result.errorCode, "agent_busy");
  assert.match(result.errorMessage, /agent busy/);
});

test("cancel: the signal deletes the run's Job and the cancellation is acknowledged", async () => {
  const controller = new AbortController();
  let ready = false;
  const client = new StandIn({
    follow: async (runId, { signal }) => {
      controller.abort();
      assert.ok(signal.aborted);
      return null;
    },
  });
  const result = await execute(
    context({ signal: controller.signal, onCancellationReady: async () => (ready = true) }),
    client,
  );
  assert.ok(ready, "the adapter opts in to signal cancellation");
  assert.deepEqual(client.calls.at(-1), ["cancel", "run-1"]);
  assert.equal(result.errorCode, "cancelled");
  assert.equal(result.resultJson.executionCancellation.state, "acknowledged");
});

test("cancel while the start is under way: the Job it then makes is cancelled too", async () => {
  // The cancel reaches the launcher before the Job exists (404: nothing to cancel yet); the
  // start then makes the Job. The adapter must cancel it, not report it deleted.
  const controller = new AbortController();
  const jobs = new Set();
  const client = new StandIn({
    start: async (request) => {
      controller.abort(); // Paperclip cancels while the start request is in flight
      await new Promise((resolve) => setTimeout(resolve, 10));
      jobs.add(request.runId);
      return { runId: request.runId, job: "agent-job", reattached: false };
    },
    cancel: async (runId) => {
      client.calls.push(["cancel", runId]);
      if (!jobs.delete(runId)) throw new LauncherError("unknown_run", "no such run", 404);
      return { cancelled: true };
    },
    follow: async (runId, { signal }) => (signal.aborted ? null : { exitCode: 0 }),
  });
  const result = await execute(context({ signal: controller.signal }), client);
  assert.equal(result.errorCode, "cancelled");
  assert.equal(jobs.size, 0, "the Job the start made is still running");
  assert.equal(result.resultJson.executionCancellation.state, "acknowledged");
});

test("cancel that cannot reach the launcher is not acknowledged", async () => {
  const controller = new AbortController();
  const client = new StandIn({
    cancel: async () => {
      throw new LauncherError("launcher_unreachable", "down");
    },
    follow: async () => {
      controller.abort();
      return null;
    },
  });
  const result = await execute(context({ signal: controller.signal }), client);
  assert.equal(result.resultJson.executionCancellation.state, "unverified");
});

test("the environment test: reachable, token, RBAC and template", async () => {
  const ok = new StandIn({
    health: async () => true,
    selfTest: async () => ({
      namespace: "ns",
      templates: ["opencode"],
      template: { name: "opencode", exists: true },
      access: [{ verb: "create", resource: "jobs", allowed: true }],
    }),
  });
  const pass = await testEnvironment({ config: {} }, ok);
  assert.equal(pass.status, "pass");
  assert.equal(pass.adapterType, "k8s_launcher");
  const denied = new StandIn({
    health: async () => true,
    selfTest: async () => ({
      namespace: "ns",
      templates: ["opencode"],
      template: { name: "other", exists: false },
      access: [{ verb: "list", resource: "jobs", allowed: false }],
    }),
  });
  const fail = await testEnvironment({ config: { template: "other" } }, denied);
  assert.equal(fail.status, "fail");
  const codes = fail.checks.filter((c) => c.level === "error").map((c) => c.code);
  assert.deepEqual(codes.sort(), ["launcher_rbac", "template"]);
  assert.match(fail.checks.find((c) => c.code === "launcher_rbac").message, /list jobs/);
  const down = await testEnvironment({ config: {} }, new StandIn({ health: async () => false }));
  assert.equal(down.checks[0].code, "launcher_unreachable");
  const token = new StandIn({
    health: async () => true,
    selfTest: async () => {
      throw new LauncherError("unauthorized", "the launcher refused the token", 401);
    },
  });
  assert.equal((await testEnvironment({ config: {} }, token)).checks[0].code, "launcher_token");
  assert.equal((await testEnvironment({ config: {} }, null)).status, "fail");
});

test("the config form offers the launcher's templates and the tiers they allow", async () => {
  const client = new StandIn({
    templates: async () => ({
      templates: [
        { name: "opencode", agentOverrides: { tiers: ["small"] } },
        { name: "shell", agentOverrides: { tiers: ["large", "small"] } },
      ],
    }),
  });
  const schema = await getConfigSchema(client);
  const template = schema.fields.find((f) => f.key === "template");
  assert.equal(template.type, "select");
  assert.deepEqual(template.options.map((o) => o.value), ["opencode", "shell"]);
  assert.equal(template.default, "opencode");
  const tier = schema.fields.find((f) => f.key === "tier");
  assert.deepEqual(tier.options.map((o) => o.value), ["", "small", "large"]);
  for (const field of schema.fields) {
    assert.ok(["text", "select", "toggle", "number", "textarea", "combobox"].includes(field.type));
  }
  const offline = await getConfigSchema(null);
  assert.equal(offline.fields.find((f) => f.key === "template").type, "text");
});

test("the transcript: OpenCode events become entries, other lines stay output", () => {
  const ts = "2026-01-01T00:00:00Z";
  const line = (event) => parseStdoutLine(JSON.stringify(event), ts);
  assert.deepEqual(line({ type: "text", part: { text: " Hi " } }), [{ kind: "assistant", ts, text: "Hi" }]);
  assert.deepEqual(line({ type: "reasoning", part: { text: "hmm" } }), [{ kind: "thinking", ts, text: "hmm" }]);
  const tool = line({ type: "tool_use", part: { tool: "bash", callID: "c1", state: { status: "completed", input: { cmd: "ls" }, output: "a" } } });
  assert.equal(tool[0].kind, "tool_call");
  assert.deepEqual(tool[1], { kind: "tool_result", ts, toolUseId: "c1", toolName: "bash", content: "a", isError: false });
  const finish = line({ type: "step_finish", part: { reason: "stop", cost: 0.5, tokens: { input: 10, output: 3, reasoning: 2, cache: { read: 4 } } } });
  assert.equal(finish[0].kind, "result");
  assert.equal(finish[0].outputTokens, 5);
  assert.equal(finish[0].cachedTokens, 4);
  assert.deepEqual(line({ type: "error", error: { data: { message: "boom" } } }), [{ kind: "stderr", ts, text: "boom" }]);
  assert.deepEqual(parseStdoutLine("plain text", ts), [{ kind: "stdout", ts, text: "plain text" }]);
});

test("the transcript parser runs as the UI runs it: a script without imports", () => {
  const source = readFileSync(join(adapterDir, "ui-parser.cjs"), "utf8");
  const module = { exports: {} };
  // the UI's worker: new Function("exports","module","self","globalThis", source)
  new Function("exports", "module", "self", "globalThis", `"use strict";\n{\n${source}\n}`)(
    module.exports,
    module,
    undefined,
    undefined,
  );
  assert.equal(typeof module.exports.parseStdoutLine, "function");
});

test("install: registers the adapter, keeps other adapters, is idempotent", () => {
  const home = mkdtempSync(join(tmpdir(), "pc-home-"));
  const registry = join(home, "adapter-plugins.json");
  writeFileSync(registry, JSON.stringify([{ packageName: "other", type: "other_type", installedAt: "x" }]));
  const run = () => execFileSync(process.execPath, [join(adapterDir, "install.mjs")], { env: { PAPERCLIP_HOME: home } });
  run();
  const first = JSON.parse(readFileSync(registry, "utf8"));
  assert.equal(first.length, 2);
  const ours = first.find((r) => r.type === "k8s_launcher");
  assert.equal(ours.localPath, adapterDir);
  assert.equal(ours.packageName, "@paperclip-gitops/adapter-k8s-launcher");
  run();
  const second = JSON.parse(readFileSync(registry, "utf8"));
  assert.deepEqual(second, first, "a second start changes nothing");
});

test("install refuses an unreadable registry and an unset PAPERCLIP_HOME", () => {
  const home = mkdtempSync(join(tmpdir(), "pc-home-"));
  writeFileSync(join(home, "adapter-plugins.json"), "{not json");
  const broken = spawnSync(process.execPath, [join(adapterDir, "install.mjs")], { env: { PAPERCLIP_HOME: home } });
  assert.equal(broken.status, 2);
  assert.match(String(broken.stderr), /cannot read .*adapter-plugins\.json/);
  const unset = spawnSync(process.execPath, [join(adapterDir, "install.mjs")], { env: {} });
  assert.equal(unset.status, 2);
});
