// Validates every Kubernetes and Istio object in the YAML files named on the command line against the OpenAPI schemas
// that kubernetes-models and @kubernetes-models/istio ship. Prints one line per object ("ok FILE KIND NAME" or
// "INVALID FILE KIND NAME: reasons") and exits 1 if any object is invalid or of a kind without a schema.
// Kustomization files are skipped (kustomize's own format, not an API object).
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

let failures = 0;
for (const file of process.argv.slice(2)) {
  for (const document of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (document.errors.length > 0) {
      console.log(`INVALID ${file}: ${document.errors.map((e) => e.message).join("; ")}`);
      failures++;
      continue;
    }

    const object = document.toJS();
    if (object === null || object === undefined) {
      continue;
    }

    const name = object.metadata?.name ?? "(unnamed)";
    if (object.kind === "Kustomization") {
      console.log(`skip ${file} Kustomization`);
      continue;
    }

    if (typeof object.apiVersion !== "string" || typeof object.kind !== "string") {
      console.log(`INVALID ${file} ${name}: no apiVersion/kind`);
      failures++;
      continue;
    }

    const [group, version] = object.apiVersion.includes("/") ? object.apiVersion.split("/") : ["", object.apiVersion];
    const module = group.endsWith("istio.io")
      ? `@kubernetes-models/istio/${group}/${version}/${object.kind}`
      : group === ""
        ? `kubernetes-models/${version}/${object.kind}`
        : `kubernetes-models/${group}/${version}/${object.kind}`;
    let model;
    try {
      model = (await import(module))[object.kind];
    } catch (error) {
      console.log(`INVALID ${file} ${object.kind} ${name}: no schema for ${object.apiVersion} ${object.kind} (${error.code ?? error.message})`);
      failures++;
      continue;
    }

    try {
      new model(object).validate();
      console.log(`ok ${file} ${object.kind} ${name}`);
    } catch (error) {
      console.log(`INVALID ${file} ${object.kind} ${name}: ${error.message}`);
      failures++;
    }
  }
}

process.exit(failures === 0 ? 0 : 1);
