// Validates Kubernetes manifests offline against the API's OpenAPI schemas
// (npm kubernetes-models, generated from Kubernetes' own definitions).
//   node validate-manifests.mjs FILE...
// Prints one line per object; exits 1 on the first invalid one.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

let failed = false;
for (const file of process.argv.slice(2)) {
  for (const document of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (document.errors.length) {
      console.log(`${file}: YAML: ${document.errors[0].message}`);
      failed = true;
      continue;
    }
    const object = document.toJS();
    if (!object) continue;
    const [group, version] = object.apiVersion.includes("/") ? object.apiVersion.split("/") : ["", object.apiVersion];
    const module = await import(`kubernetes-models/${group ? group + "/" : ""}${version}`);
    const Kind = module[object.kind];
    if (!Kind) {
      console.log(`${file}: ${object.apiVersion} ${object.kind}: unknown kind`);
      failed = true;
      continue;
    }
    try {
      new Kind(object).validate();
      console.log(`${file}: ${object.apiVersion} ${object.kind} ${object.metadata.name}: valid`);
    } catch (e) {
      console.log(`${file}: ${object.apiVersion} ${object.kind} ${object.metadata?.name}: ${e.message}`);
      failed = true;
    }
  }
}
process.exit(failed ? 1 : 0);
