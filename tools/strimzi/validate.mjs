// Validates Strimzi custom resources (kafka.strimzi.io) with @kubernetes-models/strimzi-kafka-operator,
// whose validators are generated from the openAPIV3Schema of Strimzi's published CRDs: the same
// types, enums, bounds and required fields the API server enforces once the operator is installed.
// (Like the API server, they do not reject unknown fields; deploy/schemas does, strictly.)
//
//   node validate.mjs < resources.json      a JSON array of resources
//
// Prints one JSON object per line for each resource: {"resource", "problems": [...]}.
// Exit codes: 0 every resource valid; 1 some resource invalid; 2 nothing to validate or bad input
// (a check that validates nothing must not pass).

import { readFileSync } from "node:fs";

const GROUP = "kafka.strimzi.io";

async function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.split("/");
  if (group !== GROUP || !/^v[0-9a-z]+$/.test(version ?? "") || !/^[A-Za-z0-9]+$/.test(kind)) {
    return null;
  }
  try {
    const module = await import(`@kubernetes-models/strimzi-kafka-operator/${GROUP}/${version}/${kind}`);
    return module[kind] ?? null;
  } catch {
    return null;
  }
}

function describe(error) {
  const where = (error.instancePath || "").replace(/^\//, "").replaceAll("/", ".") || "(document)";
  const allowed = error.params?.allowedValues ? ` ${JSON.stringify(error.params.allowedValues)}` : "";
  return `${where}: ${error.message}${allowed}`;
}

const resources = JSON.parse(readFileSync(0, "utf8"));
if (!Array.isArray(resources) || resources.length === 0) {
  console.error("expected a non-empty JSON array of resources on standard input");
  process.exit(2);
}

let failed = false;
for (const resource of resources) {
  const name = `${resource.kind}/${resource.metadata?.name}`;
  const Model = await modelFor(String(resource.apiVersion), String(resource.kind));
  let problems = [];
  if (Model === null) {
    problems = [`no validator for ${resource.kind} ${resource.apiVersion} in this Strimzi release`];
  } else {
    try {
      new Model(resource).validate();
    } catch (error) {
      problems = (error.errors ?? [{ message: String(error.message) }]).map(describe);
    }
  }
  failed ||= problems.length > 0;
  console.log(JSON.stringify({ resource: name, problems }));
}
process.exit(failed ? 1 : 0);
