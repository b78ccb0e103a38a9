// paperclip-gitops: a Paperclip adapter that runs agents as Kubernetes Jobs through the
// launcher. Paperclip loads it from the directory the generated manifests mount (its record
// in $PAPERCLIP_HOME/adapter-plugins.json names that directory); the launcher's URL and token
// come from the server pod's environment (AGENT_LAUNCHER_URL, AGENT_LAUNCHER_TOKEN).
// Node.js built-ins only: nothing is installed in the cluster.

import { LauncherClient, LauncherError } from "./launcher-client.mjs";
import {
  TYPE,
  buildRunRequest,
  sessionCodec,
  templateOf,
  toResult,
} from "./request.mjs";

const NOTE = "[k8s-launcher]";

function launcher(env = process.env) {
  const url = env.AGENT_LAUNCHER_URL || "";
  const token = env.AGENT_LAUNCHER_TOKEN || "";
  return url && token ? new LauncherClient(url, token) : null;
}

function failure(code, message, extra = {}) {
  return { exitCode: 1, signal: null, timedOut: false, errorCode: code, errorMessage: message, ...extra };
}

function cancelled(acknowledged) {
  return {
    exitCode: 143,
    signal: "SIGTERM",
    timedOut: false,
    errorCode: "cancelled",
    errorMessage: "the run was cancelled",
    resultJson: {
      executionCancellation: acknowledged
        ? { state: "acknowledged", acknowledgedAt: new Date().toISOString(), forced: false }
        : { state: "unverified" },
    },
  };
}

export async function execute(ctx, client = launcher()) {
  const note = (text) => ctx.onLog("stderr", `${NOTE} ${text}\n`);
  if (!client) {
    const message =
      "AGENT_LAUNCHER_URL and AGENT_LAUNCHER_TOKEN are not set on the Paperclip server: " +
      "enable spec.agents in the instance (paperclip-gitops sets both)";
    await note(message);
    return failure("launcher_unconfigured", message);
  }
  const request = await buildRunRequest(ctx);
  const template = request.template;
  // Cancellation: Paperclip aborts `signal`; the Job is deleted, then the run returns.
  const abort = new AbortController();
  let cancelling = null;
  const cancelRun = () =>
    client.cancel(request.runId).then(
      () => true,
      (error) => (error instanceof LauncherError && error.status === 404 ? true : error),
    );
  const onAbort = () => {
    abort.abort();
    cancelling = cancelRun();
  };
  if (ctx.signal?.aborted) onAbort();
  else ctx.signal?.addEventListener("abort", onAbort, { once: true });
  await ctx.onCancellationReady?.();
  try {
    if (abort.signal.aborted) return cancelled((await cancelling) === true);
    let started;
    try {
      started = await client.start(request);
    } catch (error) {
      if (abort.signal.aborted) return cancelled((await cancelling) === true);
      const message =
        error.code === "agent_busy"
          ? `agent busy: ${error.message} (another run of this agent is active)`
          : error.message;
      await note(message);
      return failure(error.code || "launcher_error", message);
    }
    const reportCancel = async (outcome) => {
      if (outcome !== true) await note(`cancel failed: ${outcome?.message || outcome}`);
      else await note(`run cancelled; job ${started.job} deleted`);
      return cancelled(outcome === true);
    };
    if (abort.signal.aborted) {
      // Cancelled while the start was under way: that cancel may have come before the Job
      // existed (404, nothing to delete), so cancel the Job the start has made.
      return reportCancel((await Promise.all([cancelling, cancelRun()]))[1]);
    }
    await note(`${started.reattached ? "reattached to" : "started"} job ${started.job}` +
      (request.sessionId ? ` (resuming session ${request.sessionId})` : ""));
    await ctx.onMeta?.({
      adapterType: TYPE,
      command: `job/${started.job}`,
      commandNotes: [
        `template ${template}`,
        ...(request.model ? [`model ${request.model}`] : []),
        ...(request.sessionId ? [`session ${request.sessionId}`] : ["new session"]),
      ],
      prompt: request.prompt,
      promptMetrics: { promptChars: request.prompt.length },
    });
    ctx.onDispatch?.();
    let result;
    try {
      result = await client.follow(request.runId, {
        onLines: (text) => ctx.onLog("stdout", text),
        onNote: note,
        signal: abort.signal,
      });
    } catch (error) {
      if (abort.signal.aborted) return cancelled((await cancelling) === true);
      await note(error.message);
      return failure(error.code || "launcher_error", error.message);
    }
    if (result === null) return reportCancel(await cancelling);
    if (result.errorCode === "session_unavailable") await note(result.errorMessage);
    else if (result.errorMessage) await note(result.errorMessage);
    return toResult(result, template);
  } finally {
    ctx.signal?.removeEventListener("abort", onAbort);
  }
}

export async function testEnvironment(ctx, client = launcher()) {
  const checks = [];
  const add = (code, level, message, hint) =>
    checks.push({ code, level, message, ...(hint ? { hint } : {}) });
  const template = templateOf(ctx.config);
  if (!client) {
    add(
      "launcher_unconfigured",
      "error",
      "AGENT_LAUNCHER_URL and AGENT_LAUNCHER_TOKEN are not set on the Paperclip server",
      "enable spec.agents in the paperclip-gitops instance and sync it",
    );
  } else if (!(await client.health())) {
    add(
      "launcher_unreachable",
      "error",
      `the launcher at ${client.base} does not answer`,
      "check the launcher Deployment and the NetworkPolicy between the server and it",
    );
  } else {
    try {
      const answer = await client.selfTest(template);
      add("launcher_token", "info", `the launcher accepted the token (namespace ${answer.namespace})`);
      const denied = answer.access.filter((check) => !check.allowed);
      if (denied.length) {
        add(
          "launcher_rbac",
          "error",
          `the launcher may not: ${denied.map((c) => `${c.verb} ${c.resource}`).join(", ")}`,
          "sync the launcher's generated Role and RoleBinding",
        );
      } else {
        add("launcher_rbac", "info", `the launcher may make all ${answer.access.length} calls it needs`);
      }
      if (answer.template?.exists) {
        add("template", "info", `template ${template} exists`);
      } else {
        add(
          "template",
          "error",
          `no template ${template}; the launcher has: ${answer.templates.join(", ")}`,
          "set the agent's template to one of these, or add it under spec.agents.templates",
        );
      }
    } catch (error) {
      add(error.status === 401 ? "launcher_token" : "launcher_error", "error", error.message);
    }
  }
  const status = checks.some((c) => c.level === "error")
    ? "fail"
    : checks.some((c) => c.level === "warn")
      ? "warn"
      : "pass";
  return { adapterType: TYPE, status, checks, testedAt: new Date().toISOString() };
}

export async function getConfigSchema(client = launcher()) {
  let templates = [];
  try {
    templates = client ? (await client.templates()).templates : [];
  } catch {
    templates = [];
  }
  const tiers = [...new Set(templates.flatMap((t) => t.agentOverrides?.tiers || []))];
  return {
    fields: [
      templates.length
        ? {
            key: "template",
            label: "Job template",
            type: "select",
            options: templates.map((t) => ({ label: t.name, value: t.name })),
            default: templates.some((t) => t.name === "opencode") ? "opencode" : templates[0].name,
            hint: "A reviewed template of the instance (spec.agents.templates)",
            required: true,
          }
        : {
            key: "template",
            label: "Job template",
            type: "text",
            default: "opencode",
            hint: "A template of the instance (spec.agents.templates)",
          },
      { key: "model", label: "Model", type: "text", hint: "e.g. anthropic/claude-sonnet-4-5; empty: the template's" },
      { key: "variant", label: "Model variant", type: "text", hint: "empty: the template's" },
      {
        key: "timeoutSec",
        label: "Timeout (seconds)",
        type: "number",
        hint: "0 or empty: the template's; the template caps it",
      },
      {
        key: "retainJobs",
        label: "Keep cancelled Jobs",
        type: "toggle",
        default: false,
        hint: "keep a cancelled run's Job for inspection (when the template allows it)",
      },
      {
        key: "tier",
        label: "Resource tier",
        type: "select",
        options: [{ label: "the template's", value: "" }, ...tiers.map((t) => ({ label: t, value: t }))],
        default: "",
        hint: "only tiers the template allows",
      },
    ],
  };
}

export const agentConfigurationDoc = `# k8s_launcher agent configuration

Runs each agent run as a Kubernetes Job stamped from a template the instance declares
(spec.agents.templates), through the paperclip-gitops launcher. The launcher refuses what
the template does not allow.

- template (string, default "opencode"): the Job template.
- model, variant (string): the OpenCode model and variant, when the template allows it.
- timeoutSec (number): the run's timeout, up to the template's limit.
- tier (string): small, medium or large, when the template allows it.
- retainJobs (boolean): keep a cancelled run's Job for inspection, when the template allows it.
- env: the agent's variables reach the pod (not PAPERCLIP_*), when the template allows it.
- promptTemplate, bootstrapPromptTemplate, instructionsFilePath: as for local adapters.
`;

export function createServerAdapter() {
  return {
    type: TYPE,
    execute: (ctx) => execute(ctx),
    testEnvironment: (ctx) => testEnvironment(ctx),
    getConfigSchema: () => getConfigSchema(),
    sessionCodec,
    supportsLocalAgentJwt: true,
    supportsInstructionsBundle: true,
    instructionsPathKey: "instructionsFilePath",
    agentConfigurationDoc,
  };
}
