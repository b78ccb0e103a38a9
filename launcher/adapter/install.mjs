// Registers this adapter with the Paperclip server: writes (or refreshes) its record in
// $PAPERCLIP_HOME/adapter-plugins.json, pointing at the directory this file is in, and keeps
// every other record as it is. Run at each start of the server pod (an init container of the
// generated manifests), so a re-sync or a new server image keeps the adapter installed with
// no `npm install` in the cluster.
//
//   node install.mjs            PAPERCLIP_HOME must be set
//
// Exit status: 0 registered, 2 PAPERCLIP_HOME unset or the registry unreadable.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { TYPE } from "./request.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const home = process.env.PAPERCLIP_HOME;
if (!home) {
  process.stderr.write("adapter install: PAPERCLIP_HOME is not set\n");
  process.exit(2);
}
const pkg = JSON.parse(readFileSync(join(here, "package.json"), "utf8"));
const registry = join(home, "adapter-plugins.json");

let records = [];
try {
  const parsed = JSON.parse(readFileSync(registry, "utf8"));
  if (!Array.isArray(parsed)) throw new Error("it is not a JSON array");
  records = parsed;
} catch (error) {
  if (error.code !== "ENOENT") {
    process.stderr.write(
      `adapter install: cannot read ${registry} (${error.message}); ` +
        "fix or remove it, then restart the pod\n",
    );
    process.exit(2);
  }
}
const previous = records.find((r) => r && r.type === TYPE);
const record = {
  packageName: pkg.name,
  localPath: here,
  version: pkg.version,
  type: TYPE,
  installedAt:
    previous && previous.version === pkg.version && previous.localPath === here
      ? previous.installedAt
      : new Date().toISOString(),
};
const kept = records.filter((r) => !(r && r.type === TYPE));
mkdirSync(home, { recursive: true });
const staging = `${registry}.tmp-${process.pid}`;
writeFileSync(staging, `${JSON.stringify([...kept, record], null, 2)}\n`);
renameSync(staging, registry);
process.stdout.write(
  `adapter install: ${TYPE} ${pkg.version} from ${here} registered in ${registry}` +
    (kept.length ? ` (${kept.length} other adapter(s) kept)` : "") +
    "\n",
);
