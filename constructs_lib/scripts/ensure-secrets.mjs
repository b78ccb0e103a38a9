// paperclip-gitops secrets bootstrap: creates, inside the cluster, the Secrets an instance
// needs, with random values, so no secret value is ever written to git. Run by the Job
// <name>-secrets-bootstrap with `node` in the Paperclip server image (Node.js built-ins only:
// no other image to pull, nothing to install).
//
//   node ensure-secrets.mjs --namespace NS NAME/KEY[?]=FORM...
//     FORM: hex32 | hex16 | base64-32 | token | literal:VALUE   (KEY? = optional key)
//
// It needs only `create` on Secrets and `get` on the registered names. It never overwrites,
// patches or deletes a Secret and never prints a value: an existing Secret is adopted as it
// is (e.g. one the operator created); one that lacks a required key (or holds it empty) is
// reported and fails the run (exit 3), so the gap is visible instead of silently filled; an
// optional key (one no consumer needs) is only reported when absent. Exit 2: bad arguments;
// 1: the API refused.
//
// The API server and credentials are the pod's (the ServiceAccount token and CA mounted at
// /var/run/secrets/kubernetes.io/serviceaccount, KUBERNETES_SERVICE_HOST/PORT). Outside a
// pod: --server URL --token-file FILE --ca-file FILE.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { request } from "node:https";

const ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";
const FORMS = {
  hex32: () => randomBytes(32).toString("hex"),
  hex16: () => randomBytes(16).toString("hex"),
  "base64-32": () => randomBytes(32).toString("base64"),
  token: () => randomBytes(32).toString("base64url"),
};
const LITERAL = "literal:";
const LABELS = { "app.kubernetes.io/managed-by": "paperclip-gitops-secrets-bootstrap" };

function usage(message) {
  process.stderr.write(
    `ensure-secrets: ${message}\n` +
      "usage: node ensure-secrets.mjs --namespace NS NAME/KEY[?]=FORM... " +
      `(FORM: ${Object.keys(FORMS).join(", ")} or literal:VALUE)\n`,
  );
  process.exit(2);
}

function parseSpec(text) {
  const equals = text.indexOf("=");
  const target = equals < 0 ? text : text.slice(0, equals);
  const form = equals < 0 ? "" : text.slice(equals + 1);
  const optional = target.endsWith("?");
  const [name, key, ...rest] = target.replace(/\?$/, "").split("/");
  const validForm = form in FORMS || (form.startsWith(LITERAL) && form.length > LITERAL.length);
  if (!name || !key || rest.length || !validForm) {
    throw new Error(`${JSON.stringify(text)}: write NAME/KEY=FORM or NAME/KEY?=FORM`);
  }
  return { name, key, form, optional };
}

function valueOf(spec) {
  return spec.form.startsWith(LITERAL) ? spec.form.slice(LITERAL.length) : FORMS[spec.form]();
}

function parseArgs(argv) {
  const options = { namespace: "", server: "", tokenFile: "", caFile: "", specs: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "--namespace") options.namespace = argv[++i] || "";
    else if (arg === "--server") options.server = argv[++i] || "";
    else if (arg === "--token-file") options.tokenFile = argv[++i] || "";
    else if (arg === "--ca-file") options.caFile = argv[++i] || "";
    else if (arg.startsWith("--")) usage(`unknown option ${arg}`);
    else {
      try {
        options.specs.push(parseSpec(arg));
      } catch (error) {
        usage(error.message);
      }
    }
  }
  if (!options.namespace) usage("--namespace is required");
  if (!options.specs.length) usage("name at least one NAME/KEY=FORM");
  return options;
}

function connection(options) {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT || "443";
  const address = host && host.includes(":") ? `[${host}]` : host;
  const server = options.server || (host ? `https://${address}:${port}` : "");
  if (!server) usage("not in a pod (no KUBERNETES_SERVICE_HOST): pass --server");
  const token = readFileSync(options.tokenFile || `${ACCOUNT}/token`, "utf8").trim();
  const ca = readFileSync(options.caFile || `${ACCOUNT}/ca.crt`);
  return { server: new URL(server), token, ca };
}

function call(conn, method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        hostname: conn.server.hostname.replace(/^\[|\]$/g, ""),
        port: conn.server.port || 443,
        path,
        method,
        ca: conn.ca,
        headers: {
          authorization: `Bearer ${conn.token}`,
          accept: "application/json",
          ...(data ? { "content-type": "application/json" } : {}),
        },
        timeout: 30000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => {
          let parsed = {};
          try {
            parsed = text ? JSON.parse(text) : {};
          } catch {
            parsed = {};
          }
          resolve({ status: res.statusCode, body: parsed });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("the API server did not answer in 30 s")));
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

function refused(answer, what) {
  const reason = answer.body?.message || answer.body?.reason || "";
  return new Error(`the API server refused to ${what} (${answer.status}): ${reason.slice(0, 300)}`);
}

async function getSecret(conn, namespace, name) {
  const answer = await call(conn, "GET", `/api/v1/namespaces/${namespace}/secrets/${name}`);
  if (answer.status === 404) return null;
  if (answer.status !== 200) throw refused(answer, `read secret ${name}`);
  return answer.body;
}

async function ensure(conn, namespace, specs) {
  const lines = [];
  const missing = [];
  const names = [...new Set(specs.map((s) => s.name))].sort();
  for (const name of names) {
    const keys = specs.filter((s) => s.name === name);
    let existing = await getSecret(conn, namespace, name);
    if (existing === null) {
      const body = {
        apiVersion: "v1",
        kind: "Secret",
        type: "Opaque",
        metadata: { name, namespace, labels: LABELS },
        stringData: Object.fromEntries(keys.map((s) => [s.key, valueOf(s)])),
      };
      const answer = await call(conn, "POST", `/api/v1/namespaces/${namespace}/secrets`, body);
      if (answer.status === 201) {
        lines.push(`created secret ${name} (${keys.map((s) => s.key).join(", ")})`);
        continue;
      }
      if (answer.status !== 409) throw refused(answer, `create secret ${name}`);
      existing = await getSecret(conn, namespace, name); // created meanwhile by someone else
    }
    // a key with an empty value counts as missing: nothing can use an empty password or key
    const data = existing?.data || {};
    const present = new Set(Object.keys(data).filter((key) => data[key]));
    const lacking = keys.filter((s) => !present.has(s.key) && !s.optional).map((s) => s.key);
    const spare = keys.filter((s) => !present.has(s.key) && s.optional).map((s) => s.key);
    if (lacking.length) {
      missing.push(...lacking.map((key) => `${name}/${key}`));
      lines.push(
        `secret ${name} exists without key(s) ${lacking.join(", ")} (or with an empty value); ` +
          "it is left unchanged: add the key(s) yourself, or delete the Secret to have it created",
      );
    } else {
      lines.push(`secret ${name} exists; left unchanged`);
    }
    if (spare.length) {
      lines.push(
        `secret ${name} has no optional key(s) ${spare.join(", ")} (nothing needs them); ` +
          "left unchanged",
      );
    }
  }
  return { lines, missing };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  let conn;
  try {
    conn = connection(options);
  } catch (error) {
    usage(`cannot read the credentials: ${error.message}`);
  }
  let outcome;
  try {
    outcome = await ensure(conn, options.namespace, options.specs);
  } catch (error) {
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(1);
  }
  for (const line of outcome.lines) process.stdout.write(`${line}\n`);
  if (outcome.missing.length) {
    process.stderr.write(`error: missing key(s): ${outcome.missing.join(", ")}\n`);
    process.exit(3);
  }
}

await main();
