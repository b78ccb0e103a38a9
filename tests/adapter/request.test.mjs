// Unit tests of the adapter's pure parts: the run request from Paperclip's execution context,
// the result from the launcher's result record, the session codec.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import {
  agentEnv,
  buildPrompt,
  buildRunRequest,
  contextEnv,
  render,
  resumableSession,
  sessionCodec,
  toResult,
} from "../../launcher/adapter/request.mjs";

const agent = { id: "agent-1", companyId: "co-1", name: "Builder" };

test("the task and wake context become the PAPERCLIP_* variables local adapters set", () => {
  const env = contextEnv({
    issueId: "iss-1",
    wakeReason: "issue_assigned",
    commentId: "c-9",
    approvalId: "ap-1",
    approvalStatus: "approved",
    issueIds: ["iss-2", "", "iss-3"],
    projectId: "p-1",
    paperclipIssue: { workMode: "build" },
    paperclipWake: { reason: "issue_assigned", issue: { id: "iss-1" } },
    paperclipWorkspace: {
      workspaceId: "w-1",
      source: "project",
      strategy: "worktree",
      repoUrl: "https://git.example/r.git",
      repoRef: "main",
      branchName: "pc/iss-1",
      cwd: "/server/only/path",
    },
    paperclipWorkspaces: [{ id: "w-1" }],
  });
  assert.deepEqual(env, {
    PAPERCLIP_TASK_ID: "iss-1",
    PAPERCLIP_ISSUE_WORK_MODE: "build",
    PAPERCLIP_WAKE_REASON: "issue_assigned",
    PAPERCLIP_WAKE_COMMENT_ID: "c-9",
    PAPERCLIP_APPROVAL_ID: "ap-1",
    PAPERCLIP_APPROVAL_STATUS: "approved",
    PAPERCLIP_LINKED_ISSUE_IDS: "iss-2,iss-3",
    PAPERCLIP_PROJECT_ID: "p-1",
    PAPERCLIP_WORKSPACE_ID: "w-1",
    PAPERCLIP_WORKSPACE_SOURCE: "project",
    PAPERCLIP_WORKSPACE_STRATEGY: "worktree",
    PAPERCLIP_WORKSPACE_REPO_URL: "https://git.example/r.git",
    PAPERCLIP_WORKSPACE_REPO_REF: "main",
    PAPERCLIP_WORKSPACE_BRANCH: "pc/iss-1",
    PAPERCLIP_WAKE_PAYLOAD_JSON: JSON.stringify({ reason: "issue_assigned", issue: { id: "iss-1" } }),
    PAPERCLIP_WORKSPACES_JSON: JSON.stringify([{ id: "w-1" }]),
  });
  assert.equal(contextEnv({ taskId: "t-1", issueId: "iss-1" }).PAPERCLIP_TASK_ID, "t-1");
  assert.deepEqual(contextEnv(null), {});
});

test("an agent's own env reaches the pod, but never server paths or the launcher's names", () => {
  assert.deepEqual(
    agentEnv({
      env: {
        GIT_AUTHOR_NAME: "Bot",
        API_TOKEN: { type: "plain", value: "s3cret" },
        PAPERCLIP_RUN_SCRATCH_DIR: "/srv/scratch",
        PAPERCLIPAI_CMD: "x",
        HOME: "/elsewhere",
        OPENCODE_CONFIG: "/x",
        "BAD-NAME": "x",
        NUMBER: 5,
      },
    }),
    { GIT_AUTHOR_NAME: "Bot", API_TOKEN: "s3cret" },
  );
});

test("a saved session resumes only when valid and made by the same template", () => {
  const params = (sessionParams) => ({ sessionParams, sessionId: null });
  assert.equal(resumableSession(params({ sessionId: "ses_1", template: "opencode" }), "opencode"), "ses_1");
  assert.equal(resumableSession(params({ sessionId: "ses_1" }), "opencode"), "ses_1");
  assert.equal(resumableSession(params({ sessionId: "ses_1", template: "other" }), "opencode"), null);
  assert.equal(resumableSession(params({ sessionId: "--attach=http://x" }), "opencode"), null);
  assert.equal(resumableSession({ sessionId: "ses_2", sessionParams: null }, "opencode"), "ses_2");
  assert.equal(resumableSession(null, "opencode"), null);
});

test("templates render known keys and keep unknown ones", () => {
  assert.equal(render("{{agent.id}}/{{ run.id }}/{{nope}}", { agent: { id: "a" }, run: { id: "r" } }), "a/r/{{nope}}");
});

test("the prompt: instructions, bootstrap (new sessions), wake and task, handoff, template", async () => {
  const dir = mkdtempSync(join(tmpdir(), "adapter-"));
  const file = join(dir, "AGENTS.md");
  writeFileSync(file, "Be careful.\n");
  const ctx = {
    runId: "run-1",
    agent,
    config: { instructionsFilePath: file, bootstrapPromptTemplate: "Hello {{agent.name}}." },
    context: {
      wakeReason: "issue_assigned",
      paperclipTaskMarkdown: "# ISS-1 Fix the build",
      paperclipSessionHandoffMarkdown: "Handoff notes.",
    },
  };
  const fresh = await buildPrompt(ctx, false);
  const parts = fresh.split("\n\n");
  assert.match(parts[0], /^Be careful\./);
  assert.match(fresh, /loaded from .*AGENTS\.md/);
  assert.ok(fresh.indexOf("Hello Builder.") < fresh.indexOf("Wake reason: issue_assigned"));
  assert.ok(fresh.indexOf("# ISS-1 Fix the build") < fresh.indexOf("Handoff notes."));
  assert.ok(fresh.endsWith("You are agent agent-1 (Builder). Continue your Paperclip work."));
  const resumed = await buildPrompt(ctx, true);
  assert.ok(!resumed.includes("Hello Builder."), "the bootstrap prompt is for new sessions");
  assert.ok(!resumed.includes("Continue your Paperclip work"), "a resumed wake acts on the wake");
  const missing = await buildPrompt({ ...ctx, config: { instructionsFilePath: join(dir, "nope") } }, false);
  assert.ok(!missing.includes("loaded from"));
});

test("the run request carries identity, token, session, prompt, context and overrides", async () => {
  const body = await buildRunRequest({
    runId: "run-1",
    agent,
    authToken: "jwt.token",
    runtime: { sessionParams: { sessionId: "ses_9", template: "opencode" } },
    config: { template: "opencode", model: "anthropic/claude", variant: "high", timeoutSec: "600", tier: "large", env: { A: "1" }, retainJobs: true },
    context: { taskId: "t-1", wakeReason: "manual" },
  });
  assert.equal(body.agentId, "agent-1");
  assert.equal(body.companyId, "co-1");
  assert.equal(body.runId, "run-1");
  assert.equal(body.template, "opencode");
  assert.equal(body.apiKey, "jwt.token");
  assert.equal(body.sessionId, "ses_9");
  assert.equal(body.model, "anthropic/claude");
  assert.equal(body.variant, "high");
  assert.equal(body.tier, "large");
  assert.equal(body.timeoutSeconds, 600);
  assert.equal(body.retain, true);
  assert.deepEqual(body.env, { A: "1" });
  assert.deepEqual(body.context, { PAPERCLIP_TASK_ID: "t-1", PAPERCLIP_WAKE_REASON: "manual" });
  assert.match(body.prompt, /Wake reason: manual/);
  const bare = await buildRunRequest({ runId: "r", agent, config: {}, context: {} });
  assert.equal(bare.template, "opencode");
  for (const key of ["apiKey", "sessionId", "model", "variant", "tier", "timeoutSeconds", "retain"]) {
    assert.ok(!(key in bare), key);
  }
});

test("a result becomes what Paperclip records: usage per run, cost, session", () => {
  const result = toResult(
    {
      type: "result",
      job: "agent-x",
      exitCode: 0,
      usage: { inputTokens: 100, outputTokens: 42, cachedInputTokens: 10 },
      costUsd: 0.5,
      model: "anthropic/claude",
      provider: "anthropic",
      sessionId: "ses_1",
      summary: "Done.",
      clearSession: false,
    },
    "opencode",
  );
  assert.deepEqual(result.usage, { inputTokens: 100, outputTokens: 42, cachedInputTokens: 10 });
  assert.equal(result.usageBasis, "per_run");
  assert.equal(result.costUsd, 0.5);
  assert.equal(result.provider, "anthropic");
  assert.equal(result.model, "anthropic/claude");
  assert.equal(result.billingType, "unknown");
  assert.deepEqual(result.sessionParams, { sessionId: "ses_1", template: "opencode" });
  assert.equal(result.sessionDisplayId, "ses_1");
  assert.equal(result.summary, "Done.");
  assert.equal(result.errorCode, undefined);
  assert.equal(result.exitCode, 0);
});

test("a dead session is cleared and the run says why; failures keep their code", () => {
  const dead = toResult(
    { exitCode: 1, errorCode: "session_unavailable", errorMessage: "gone", clearSession: true, sessionId: "ses_1" },
    "opencode",
  );
  assert.equal(dead.clearSession, true);
  assert.equal(dead.sessionParams, undefined);
  assert.equal(dead.errorCode, "session_unavailable");
  assert.equal(dead.errorMessage, "gone");
  const failed = toResult({ exitCode: 7 }, "plain");
  assert.equal(failed.errorCode, "exit_code");
  assert.match(failed.errorMessage, /code 7/);
  assert.equal(failed.sessionParams, undefined);
  assert.equal(failed.clearSession, undefined, "no session reported: Paperclip keeps the last");
  const timeout = toResult({ exitCode: 124, timedOut: true, errorCode: "timeout", errorMessage: "t" }, "plain");
  assert.equal(timeout.timedOut, true);
  const odd = toResult({ exitCode: 0, sessionId: "--session x" }, "opencode");
  assert.equal(odd.sessionId, undefined);
});

test("a long agent name is cut between characters, never inside one (the launcher refuses half)", async () => {
  const name = "a" + "\u{1F600}".repeat(250); // 251 characters, 501 UTF-16 units
  const body = await buildRunRequest({ runId: "r", agent: { ...agent, name }, config: {}, context: {} });
  assert.equal(body.agentName, "a" + "\u{1F600}".repeat(199)); // 200 characters, as the launcher counts
  assert.ok(!/\\ud[89ab]/i.test(JSON.stringify(body)), "no lone surrogate in the request");
  assert.ok([...body.agentName].length <= 200);
});

test("a failed run that exited 0 says what failed, not that it exited with code 0", () => {
  const silent = toResult({ exitCode: 0, errorCode: "llm_api_error", sessionId: "ses_1" }, "opencode");
  assert.equal(silent.errorCode, "llm_api_error");
  assert.doesNotMatch(silent.errorMessage, /exited with code 0/);
  assert.match(silent.errorMessage, /llm_api_error/);
  const said = toResult({ exitCode: 0, errorCode: "llm_api_error", errorMessage: "no reply" }, "opencode");
  assert.equal(said.errorMessage, "no reply");
});

test("the session codec keeps the session and its template", () => {
  assert.deepEqual(sessionCodec.deserialize({ session_id: "ses_1", template: "t", other: 1 }), {
    sessionId: "ses_1",
    template: "t",
  });
  assert.equal(sessionCodec.deserialize({}), null);
  assert.deepEqual(sessionCodec.serialize({ sessionId: "ses_2" }), { sessionId: "ses_2" });
  assert.equal(sessionCodec.getDisplayId({ sessionId: "ses_3" }), "ses_3");
});
