// Validates rendered Kubernetes objects against the API's JSON schemas
// (kubernetes-models: the OpenAPI schemas of Kubernetes, compiled to
// validators). Reads multi-document YAML files; prints one line per object
// and exits 1 if any object is invalid or of a kind it does not know.
//
//   node validate-k8s.mjs rendered.yaml…
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// apiVersion "apps/v1" → module "kubernetes-models/apps/v1"; core "v1" →
// "kubernetes-models/v1".
async function modelFor(apiVersion, kind) {
  const path = `kubernetes-models/${apiVersion}`;
  let mod;
  try {
    mod = await import(path);
  } catch {
    return null;
  }
  return mod[kind] ?? null;
}

let failed = 0;
let count = 0;
for (const file of process.argv.slice(2)) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      console.log(`${file}: YAML: ${doc.errors[0].message}`);
      failed++;
      continue;
    }
    const obj = doc.toJS();
    if (obj === null) continue;
    count++;
    const id = `${file}: ${obj.kind}/${obj.metadata?.name}`;
    const Model = await modelFor(obj.apiVersion, obj.kind);
    if (Model === null) {
      console.log(`${id}: unknown apiVersion/kind ${obj.apiVersion} ${obj.kind}`);
      failed++;
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      console.log(`${id}: ${e.message}`);
      failed++;
    }
  }
}
console.log(`validate-k8s: ${count} objects, ${failed} invalid`);
process.exit(failed === 0 && count > 0 ? 0 : 1);
