// Runs the k8s_launcher adapter's execute() as Paperclip would, for tests: a context from the
// environment and argv, stdout log chunks to stdout, stderr chunks to stderr, and the
// adapter's result as one last stderr line "RESULT <json>". SIGTERM aborts the run's signal
// (Paperclip's cancel). Exit status: the result's exit code (or 1).
//
//   node drive.mjs '<ctx json>'      ctx: {runId, agent, config, context, runtime, authToken}
//   env: AGENT_LAUNCHER_URL, AGENT_LAUNCHER_TOKEN, AGENT_LAUNCHER_RESUME_MS

import { LauncherClient } from "../../launcher/adapter/launcher-client.mjs";
import { execute } from "../../launcher/adapter/index.mjs";

const given = JSON.parse(process.argv[2] || "{}");
const controller = new AbortController();
process.on("SIGTERM", () => controller.abort(new Error("cancelled")));
const write = (stream, text) =>
  new Promise((resolve) => (stream.write(text) ? resolve() : stream.once("drain", resolve)));
const client = new LauncherClient(process.env.AGENT_LAUNCHER_URL, process.env.AGENT_LAUNCHER_TOKEN, {
  resumeMs: Number(process.env.AGENT_LAUNCHER_RESUME_MS || 300000),
});
let ready = false;
const ctx = {
  runtime: { sessionId: null, sessionParams: null, sessionDisplayId: null, taskKey: null },
  config: {},
  context: {},
  ...given,
  signal: controller.signal,
  onLog: (stream, chunk) => write(stream === "stdout" ? process.stdout : process.stderr, chunk),
  onMeta: async () => {},
  onCancellationReady: async () => {
    ready = true;
  },
};
const result = await execute(ctx, client);
await write(process.stderr, `RESULT ${JSON.stringify({ ...result, cancellationReady: ready })}\n`);
process.exit(Number.isInteger(result.exitCode) ? result.exitCode : 1);
