// Parses AsyncAPI documents with the AsyncAPI project's own parser, the same one its CLI and
// generators use, so a document that passes here opens in their tools. Errors fail the run;
// warnings, infos and hints are printed and accepted.
//
//   node validate.mjs [document.json ...]   (default: every docs/contract/asyncapi/*.json)
//
// Exit codes: 0 every document parsed without errors; 1 some document has errors;
// 2 there was nothing to validate (a check that validates nothing must not pass).

import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

// The package ships CommonJS without an export map: take the named export off the default.
import asyncapiParser from "@asyncapi/parser";

const { Parser, DiagnosticSeverity } = asyncapiParser;

const here = path.dirname(fileURLToPath(import.meta.url));
const defaultFolder = path.resolve(here, "..", "..", "docs", "contract", "asyncapi");

const severityName = {
  [DiagnosticSeverity.Error]: "error",
  [DiagnosticSeverity.Warning]: "warning",
  [DiagnosticSeverity.Information]: "info",
  [DiagnosticSeverity.Hint]: "hint",
};

async function documentsToValidate(args) {
  if (args.length > 0) {
    return args.map((arg) => path.resolve(arg));
  }
  const names = await readdir(defaultFolder).catch(() => []);
  return names
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => path.join(defaultFolder, name));
}

function describe(diagnostic) {
  const where = diagnostic.path && diagnostic.path.length > 0 ? diagnostic.path.join(".") : "(document)";
  const severity = severityName[diagnostic.severity] ?? `severity ${diagnostic.severity}`;
  return `  ${severity} [${diagnostic.code}] at ${where}: ${diagnostic.message}`;
}

async function validate(parser, file) {
  let text;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    console.error(`${file}: cannot be read: ${error.message}`);
    return false;
  }
  const { document, diagnostics } = await parser.parse(text, { source: file });
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  const others = diagnostics.filter((d) => d.severity !== DiagnosticSeverity.Error);
  if (errors.length > 0 || document === undefined) {
    console.error(`${file}: INVALID (${errors.length} error(s), ${others.length} other diagnostic(s))`);
    for (const diagnostic of [...errors, ...others]) {
      console.error(describe(diagnostic));
    }
    return false;
  }
  const version = document.version();
  console.log(`${file}: valid AsyncAPI ${version} (${others.length} warning(s) or note(s))`);
  for (const diagnostic of others) {
    console.log(describe(diagnostic));
  }
  return true;
}

const files = await documentsToValidate(process.argv.slice(2));
if (files.length === 0) {
  console.error(`no AsyncAPI documents found (looked in ${defaultFolder})`);
  process.exit(2);
}
const parser = new Parser();
let allValid = true;
for (const file of files) {
  // One at a time: the output of each document stays together.
  allValid = (await validate(parser, file)) && allValid;
}
process.exit(allValid ? 0 : 1);
