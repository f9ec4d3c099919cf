// Validates Kubernetes objects against the API's schemas, offline.
//
//   node validate.js < documents.json
//
// documents.json: [{"where": "deployment.yaml#1", "doc": {...}}, ...] (the
// test converts the YAML with python3-yaml). For each object:
//
// 1. the schema: kubernetes-models' model of its apiVersion and kind, whose
//    validate() is an ajv validator compiled from the Kubernetes OpenAPI
//    specification (types, required fields, enums, formats, int-or-string);
//    an apiVersion/kind the API does not have is an error;
// 2. unknown fields, which the OpenAPI schemas allow but the API server
//    refuses (kubectl's default --validate=strict): every key of every
//    object must be a property of its type, as the model's type declaration
//    (.d.ts, generated from the same specification) lists them. Maps
//    ({[key: string]: T}) take any key.
//
// Prints one line per error ("where: /path: message") and exits 1 if there
// is any, else prints how many objects were valid and exits 0.
"use strict";
const fs = require("fs");
const path = require("path");

// kubernetes-models keeps the API versions older clusters served; these no
// longer exist (the Kubernetes deprecated-API migration guide), so an
// object of one of them is refused as the API server would refuse it.
const removed = {
  "extensions/v1beta1": "1.22",
  "apps/v1beta1": "1.16",
  "apps/v1beta2": "1.16",
  "policy/v1beta1": "1.25",
  "batch/v1beta1": "1.25",
  "autoscaling/v2beta1": "1.25",
  "autoscaling/v2beta2": "1.26",
  "networking.k8s.io/v1beta1": "1.22",
  "discovery.k8s.io/v1beta1": "1.25",
  "node.k8s.io/v1beta1": "1.25",
  "rbac.authorization.k8s.io/v1beta1": "1.22",
  "scheduling.k8s.io/v1beta1": "1.22",
};

const errors = [];
const err = (where, p, msg) => errors.push(`${where}: ${p || "/"}: ${msg}`);

// apiVersion "apps/v1" -> kubernetes-models/apps/v1/Kind; "v1" -> v1/Kind
function modelPath(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^\w+$/.test(kind))
    return null;
  const parts = apiVersion.split("/");
  if (parts.length > 2 || parts.some((s) => !/^[\w.-]+$/.test(s))) return null;
  return `kubernetes-models/${parts.join("/")}/${kind}`;
}

// --- the .d.ts declarations: properties of each interface ------------------

const declCache = new Map();

// The type declaration file of a module ("kubernetes-models/v1/Probe" or
// "./Probe" relative to `from`).
function dtsOf(spec, from) {
  const js = spec.startsWith(".")
    ? path.resolve(path.dirname(from), spec) + ".js"
    : require.resolve(spec);
  return js.replace(/\.js$/, ".d.ts");
}

// Parses a .d.ts of kubernetes-models: its imports, and the properties of
// its first interface (name -> {type, map}). null when it declares no
// interface (a type alias such as IntOrString or Quantity: a leaf).
function parseDecl(file) {
  if (declCache.has(file)) return declCache.get(file);
  const text = fs.readFileSync(file, "utf8");
  const imports = new Map();
  for (const m of text.matchAll(/^import \{ ([^}]+) \} from "([^"]+)";$/gm))
    for (const name of m[1].split(",").map((s) => s.trim()))
      imports.set(name.split(" as ").pop().trim(), m[2]);
  const start = text.search(/^export interface \w+/m);
  let decl = null;
  if (start >= 0) {
    const lines = text.slice(start).split("\n");
    const props = new Map();
    for (let i = 1; i < lines.length && lines[i] !== "}"; i++) {
      const m = /^ {4}"([^"]+)"\??: (.*)$/.exec(lines[i]);
      if (!m) continue;
      let type = m[2];
      if (type === "{") {
        // a map over several lines: { [key: string]: T; }
        const body = [];
        while (++i < lines.length && !/^ {4}\};?$/.test(lines[i])) body.push(lines[i]);
        const v = /\[key: string\]: (.*?);?$/.exec(body.join(" ").trim());
        props.set(m[1], { type: v ? v[1] : "unknown", map: true });
        continue;
      }
      props.set(m[1], { type: type.replace(/;$/, ""), map: false });
    }
    decl = { props, imports, file };
  }
  declCache.set(file, decl);
  return decl;
}

// The declaration an interface name refers to from `decl`, or null (a
// primitive, a union of literals, an alias: nothing to check inside).
function resolveType(decl, type) {
  const name = /^(I\w+)$/.exec(type);
  if (!name || !decl.imports.has(name[1])) return null;
  return parseDecl(dtsOf(decl.imports.get(name[1]), decl.file));
}

function checkValue(where, p, value, decl, type) {
  const arr = /^Array<(.*)>$/.exec(type);
  if (arr) {
    if (Array.isArray(value))
      value.forEach((v, i) => checkValue(where, `${p}/${i}`, v, decl, arr[1]));
    return;
  }
  const inner = resolveType(decl, type);
  if (inner && value && typeof value === "object" && !Array.isArray(value))
    checkObject(where, p, value, inner);
}

function checkObject(where, p, obj, decl) {
  for (const [key, value] of Object.entries(obj)) {
    const prop = decl.props.get(key);
    if (!prop) {
      err(where, p, `unknown field "${key}" (the API server refuses it)`);
      continue;
    }
    if (prop.map) {
      if (value && typeof value === "object")
        for (const [k, v] of Object.entries(value))
          checkValue(where, `${p}/${key}/${k}`, v, decl, prop.type);
    } else {
      checkValue(where, `${p}/${key}`, value, decl, prop.type);
    }
  }
}

// --- main --------------------------------------------------------------------

const docs = JSON.parse(fs.readFileSync(0, "utf8"));
let valid = 0;
for (const { where, doc } of docs) {
  const before = errors.length;
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    err(where, "", "not an object");
    continue;
  }
  if (removed[doc.apiVersion]) {
    err(where, "", `apiVersion "${doc.apiVersion}" was removed from the Kubernetes API in ${removed[doc.apiVersion]}`);
    continue;
  }
  const mp = modelPath(doc.apiVersion, doc.kind);
  let mod = null;
  try {
    mod = mp && require(mp);
  } catch (e) {
    mod = null;
  }
  const Model = mod && mod[doc.kind];
  if (!Model) {
    err(where, "", `no schema for apiVersion "${doc.apiVersion}", kind "${doc.kind}" in the Kubernetes API`);
    continue;
  }
  try {
    new Model(doc).validate();
  } catch (e) {
    for (const line of String(e.message).split("\n")) err(where, "", line.replace(/^data/, "schema: "));
  }
  const decl = parseDecl(dtsOf(mp));
  if (!decl || decl.props.size < 3) err(where, "", `could not read the declaration of ${mp}`);
  else checkObject(where, "", doc, decl);
  if (errors.length === before) valid++;
}
for (const e of errors) console.log(e);
if (errors.length) process.exit(1);
console.log(`${valid} objects valid`);
