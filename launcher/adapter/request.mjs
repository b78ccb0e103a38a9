// What one Paperclip run asks of the launcher: the run request built from the adapter's
// execution context, and the adapter result built from the launcher's result record.
// Pure functions (no I/O besides reading the agent's instructions file), so they are unit
// tested on their own.

import { readFile } from "node:fs/promises";

export const TYPE = "k8s_launcher";
export const DEFAULT_TEMPLATE = "opencode";
export const DEFAULT_PROMPT_TEMPLATE =
  "You are agent {{agent.id}} ({{agent.name}}). Continue your Paperclip work.";
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;
// Names the launcher (or Paperclip) sets itself: an agent's own env never overrides them.
const RESERVED_ENV = new Set(["HOME", "OPENCODE_DISABLE_PROJECT_CONFIG", "OPENCODE_CONFIG"]);
// The server adds paths on its own disk to a run's env; they mean nothing in an agent pod.
const SERVER_ONLY_ENV = /^(PAPERCLIP_|PAPERCLIPAI_)/;

const text = (value) => (typeof value === "string" ? value.trim() : "");
const record = (value) =>
  value && typeof value === "object" && !Array.isArray(value) ? value : {};

/** The template a run uses: the agent's `template` setting, else "opencode". */
export function templateOf(config) {
  return text(record(config).template) || DEFAULT_TEMPLATE;
}

/** Render `{{ a.b.c }}` from `values` (unknown keys stay as they are). */
export function render(template, values) {
  return String(template).replace(/\{\{\s*([A-Za-z0-9_.]+)\s*\}\}/g, (whole, key) => {
    let current = values;
    for (const part of key.split(".")) {
      current = current && typeof current === "object" ? current[part] : undefined;
    }
    return current === undefined || current === null || typeof current === "object"
      ? whole
      : String(current);
  });
}

/**
 * The task and wake context as the PAPERCLIP_* variables Paperclip's own local adapters set.
 */
export function contextEnv(context) {
  const ctx = record(context);
  const wake = record(ctx.paperclipWake);
  const issue = record(ctx.paperclipIssue);
  const workspace = record(ctx.paperclipWorkspace);
  const linked = Array.isArray(ctx.issueIds) ? ctx.issueIds.filter((id) => text(id)) : [];
  const values = {
    PAPERCLIP_TASK_ID: text(ctx.taskId) || text(ctx.issueId),
    PAPERCLIP_ISSUE_WORK_MODE: text(issue.workMode) || text(record(wake.issue).workMode),
    PAPERCLIP_WAKE_REASON: text(ctx.wakeReason),
    PAPERCLIP_WAKE_COMMENT_ID: text(ctx.wakeCommentId) || text(ctx.commentId),
    PAPERCLIP_APPROVAL_ID: text(ctx.approvalId),
    PAPERCLIP_APPROVAL_STATUS: text(ctx.approvalStatus),
    PAPERCLIP_LINKED_ISSUE_IDS: linked.join(","),
    PAPERCLIP_PROJECT_ID: text(ctx.projectId),
    PAPERCLIP_WORKSPACE_ID: text(workspace.workspaceId),
    PAPERCLIP_WORKSPACE_SOURCE: text(workspace.source),
    PAPERCLIP_WORKSPACE_STRATEGY: text(workspace.strategy),
    PAPERCLIP_WORKSPACE_REPO_URL: text(workspace.repoUrl),
    PAPERCLIP_WORKSPACE_REPO_REF: text(workspace.repoRef),
    PAPERCLIP_WORKSPACE_BRANCH: text(workspace.branchName),
    PAPERCLIP_WAKE_PAYLOAD_JSON: Object.keys(wake).length ? JSON.stringify(wake) : "",
    PAPERCLIP_WORKSPACES_JSON: Array.isArray(ctx.paperclipWorkspaces)
      ? JSON.stringify(ctx.paperclipWorkspaces)
      : "",
  };
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value));
}

/** The agent's own variables (its Paperclip config `env`), as the launcher takes them. */
export function agentEnv(config) {
  const out = {};
  for (const [name, raw] of Object.entries(record(record(config).env))) {
    const value =
      typeof raw === "string" ? raw : typeof record(raw).value === "string" ? raw.value : null;
    if (value === null || !ENV_NAME.test(name)) continue;
    if (RESERVED_ENV.has(name) || SERVER_ONLY_ENV.test(name)) continue;
    out[name] = value;
  }
  return out;
}

/** The session to resume: Paperclip's saved one, when it was made by the same template. */
export function resumableSession(runtime, template) {
  const params = record(record(runtime).sessionParams);
  const id = text(params.sessionId) || text(record(runtime).sessionId);
  if (!id || !SESSION_ID.test(id)) return null;
  const savedFor = text(params.template);
  if (savedFor && savedFor !== template) return null;
  return id;
}

async function instructions(config) {
  const path = text(record(config).instructionsFilePath);
  if (!path) return "";
  try {
    const content = (await readFile(path, "utf8")).trim();
    return content ? `${content}\n\n(These agent instructions were loaded from ${path}.)` : "";
  } catch {
    return "";
  }
}

function wakeSection(context) {
  const ctx = record(context);
  const lines = [];
  if (text(ctx.wakeReason)) lines.push(`Wake reason: ${text(ctx.wakeReason)}`);
  const task = text(ctx.paperclipTaskMarkdown) || text(ctx.paperclipTaskMarkdownCompact);
  if (task) lines.push(task);
  return lines.join("\n\n");
}

/**
 * The prompt, in the order Paperclip's local adapters use: instructions, the bootstrap prompt
 * (new sessions only), the wake and its task, the session handoff, then the prompt template
 * (left out when a resumed session has a wake to act on).
 */
export async function buildPrompt(ctx, resumed) {
  const config = record(ctx.config);
  const context = record(ctx.context);
  const agent = record(ctx.agent);
  const values = {
    agentId: agent.id,
    companyId: agent.companyId,
    runId: ctx.runId,
    agent,
    company: { id: agent.companyId },
    run: { id: ctx.runId },
    context,
  };
  const wake = wakeSection(context);
  const sections = [
    await instructions(config),
    resumed ? "" : render(text(config.bootstrapPromptTemplate), values),
    wake,
    text(context.paperclipSessionHandoffMarkdown),
    resumed && wake ? "" : render(text(config.promptTemplate) || DEFAULT_PROMPT_TEMPLATE, values),
  ];
  return sections.filter((section) => section.trim()).join("\n\n");
}

function positiveInteger(value) {
  const number = typeof value === "string" ? Number(value) : value;
  return Number.isInteger(number) && number > 0 ? number : null;
}

/** The launcher's run request (POST /v1/runs) for this execution context. */
export async function buildRunRequest(ctx) {
  const config = record(ctx.config);
  const agent = record(ctx.agent);
  const template = templateOf(config);
  const session = resumableSession(ctx.runtime, template);
  const body = {
    agentId: String(agent.id),
    companyId: String(agent.companyId),
    runId: String(ctx.runId),
    // 200 characters, as the launcher counts them: a cut by UTF-16 units could split a
    // character in two, and the launcher refuses the half of one as invalid JSON.
    agentName: Array.from(text(agent.name)).slice(0, 200).join(""),
    template,
    prompt: await buildPrompt(ctx, session !== null),
    context: contextEnv(ctx.context),
    env: agentEnv(config),
  };
  if (ctx.authToken) body.apiKey = ctx.authToken;
  if (session) body.sessionId = session;
  if (text(config.model)) body.model = text(config.model);
  if (text(config.variant)) body.variant = text(config.variant);
  if (text(config.tier)) body.tier = text(config.tier);
  if (config.retainJobs === true || config.retain === true) body.retain = true;
  const timeout = positiveInteger(config.timeoutSec);
  if (timeout !== null) body.timeoutSeconds = timeout;
  return body;
}

/** The adapter result for the launcher's result record. */
export function toResult(result, template) {
  const exitCode = Number.isInteger(result.exitCode) ? result.exitCode : 1;
  const out = {
    exitCode,
    signal: null,
    timedOut: result.timedOut === true,
    resultJson: {
      job: result.job,
      ...(result.summary ? { summary: result.summary } : {}),
      ...(Array.isArray(result.errors) && result.errors.length ? { errors: result.errors } : {}),
    },
  };
  if (exitCode !== 0 || result.errorCode) {
    out.errorCode = result.errorCode || "exit_code";
    out.errorMessage =
      result.errorMessage ||
      (exitCode !== 0
        ? `the agent exited with code ${exitCode}`
        : `the run failed: ${out.errorCode}`);
  }
  const usage = record(result.usage);
  if (Object.keys(usage).length) {
    out.usage = {
      inputTokens: Number(usage.inputTokens) || 0,
      outputTokens: Number(usage.outputTokens) || 0,
      cachedInputTokens: Number(usage.cachedInputTokens) || 0,
    };
    out.usageBasis = "per_run"; // the launcher counts one run's tokens, not a session's
  }
  if (typeof result.costUsd === "number") out.costUsd = result.costUsd;
  if (text(result.model)) out.model = text(result.model);
  if (text(result.provider)) out.provider = text(result.provider);
  out.billingType = "unknown";
  if (result.summary) out.summary = result.summary;
  if (result.clearSession === true) {
    out.clearSession = true;
  } else if (text(result.sessionId) && SESSION_ID.test(result.sessionId)) {
    out.sessionId = result.sessionId;
    out.sessionParams = { sessionId: result.sessionId, template };
    out.sessionDisplayId = result.sessionId;
  }
  return out;
}

/** Session params as Paperclip stores them between runs. */
export const sessionCodec = {
  deserialize(raw) {
    const params = record(raw);
    const sessionId = text(params.sessionId) || text(params.session_id);
    if (!sessionId) return null;
    const template = text(params.template);
    return template ? { sessionId, template } : { sessionId };
  },
  serialize(params) {
    return sessionCodec.deserialize(params);
  },
  getDisplayId(params) {
    return text(record(params).sessionId) || null;
  },
};
