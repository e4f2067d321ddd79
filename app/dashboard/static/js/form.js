// The job form, generated from the service's own OpenAPI schema of TrainingSpec: every
// spec field, with its default, bounds and description; the API's 422 details are
// shown next to the fields they name.

import { h } from "./dom.js";

let schemas = null;

export async function specSchemas() {
  if (!schemas) {
    const response = await fetch("/openapi.json");
    schemas = (await response.json()).components.schemas;
  }
  return schemas;
}

function resolve(schema) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return { ...schemas[name], ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== "$ref")) };
  }
  return schema;
}

// {schema, nullable}: anyOf [X, null] is a nullable X.
function unwrap(schema) {
  schema = resolve(schema);
  if (schema.anyOf) {
    const options = schema.anyOf.map(resolve);
    const concrete = options.filter((option) => option.type !== "null");
    if (concrete.length === 1) {
      return { schema: { ...concrete[0], ...pick(schema, ["default", "description", "title"]) }, nullable: true };
    }
  }
  return { schema, nullable: false };
}

function pick(object, keys) {
  return Object.fromEntries(keys.filter((k) => k in object).map((k) => [k, object[k]]));
}

function label(name) {
  return name.replaceAll("_", " ");
}

function help(schema) {
  const parts = [];
  if (schema.description) parts.push(schema.description);
  const low = schema.minimum ?? schema.exclusiveMinimum, high = schema.maximum ?? schema.exclusiveMaximum;
  if (low !== undefined || high !== undefined) parts.push(`${low ?? "…"} to ${high ?? "…"}`);
  return parts.join(" · ");
}

// Each field is {path, read(), element}; objects recurse.
function field(path, name, rawSchema, fields, defaults) {
  const { schema, nullable } = unwrap(rawSchema);
  const initial = defaults !== undefined ? defaults : schema.default;
  const id = `spec-${path.replaceAll(".", "-")}`;

  if (schema.type === "object" || schema.properties) {
    const box = h("fieldset", { "data-field": path }, h("legend", {}, label(name)));
    let enabled = null;
    if (nullable) {
      enabled = h("input", { type: "checkbox", id, checked: initial !== null && initial !== undefined });
      box.append(h("div", { class: "field" }, h("label", { for: id }, "use"), enabled));
    }
    const inner = [];
    for (const [child, childSchema] of Object.entries(schema.properties)) {
      box.append(field(`${path}.${child}`, child, childSchema, inner, initial?.[child]));
    }
    box.append(h("div", { class: "error", "data-error": path }));
    fields.push({
      path,
      read() {
        if (enabled && !enabled.checked) return null;
        return Object.fromEntries(inner.map((f) => [f.path.split(".").pop(), f.read()]));
      },
      write(value) {
        if (enabled) enabled.checked = value !== null && value !== undefined;
        for (const f of inner) f.write(value?.[f.path.split(".").pop()]);
      },
    });
    return box;
  }

  let input, read, write;
  if (schema.enum) {
    input = h("select", { id, name: path },
      nullable ? h("option", { value: "" }, "(none)") : null,
      schema.enum.map((value) => h("option", { value, selected: value === initial }, value)));
    read = () => (input.value === "" ? null : input.value);
    write = (value) => { input.value = value ?? ""; };
  } else if (schema.type === "boolean") {
    input = h("input", { id, name: path, type: "checkbox", checked: Boolean(initial) });
    read = () => input.checked;
    write = (value) => { input.checked = Boolean(value); };
  } else if (schema.type === "integer" || schema.type === "number") {
    input = h("input", { id, name: path, type: "text", inputmode: "decimal",
      value: initial ?? "", placeholder: nullable ? "null" : "" });
    read = () => {
      const text = input.value.trim();
      if (text === "") return nullable ? null : text;
      const value = Number(text);
      return Number.isFinite(value) ? value : text; // the API says what is wrong with it
    };
    write = (value) => { input.value = value ?? ""; };
  } else if (schema.type === "array") {
    input = h("input", { id, name: path, type: "text", value: (initial || []).join(", "),
      placeholder: "e.g. 16, 8" });
    read = () => input.value.split(",").map((s) => s.trim()).filter(Boolean)
      .map((s) => (Number.isFinite(Number(s)) ? Number(s) : s));
    write = (value) => { input.value = (value || []).join(", "); };
  } else {
    input = h("input", { id, name: path, type: "text", value: initial ?? "",
      placeholder: nullable ? "null" : "" });
    read = () => (input.value === "" && nullable ? null : input.value);
    write = (value) => { input.value = value ?? ""; };
  }
  fields.push({ path, read, write });
  return h("div", { class: "field", "data-field": path },
    h("label", { for: id }, label(name)), input,
    help(schema) ? h("div", { class: "help" }, help(schema)) : null,
    h("div", { class: "error", "data-error": path }));
}

export async function specForm() {
  const all = await specSchemas();
  const spec = all.TrainingSpec;
  const fields = [];
  const columns = [h("div"), h("div")];
  const nested = ["embedding", "sequence", "optimizer", "regularization", "early_stopping"];
  for (const [name, schema] of Object.entries(spec.properties)) {
    columns[nested.includes(name) ? 1 : 0].append(field(name, name, schema, fields));
  }
  const general = h("div", { class: "error", "data-error": "(body)" });
  const element = h("form", { class: "spec", novalidate: true }, columns[0], columns[1]);
  return {
    element,
    general,
    read: () => Object.fromEntries(fields.map((f) => [f.path, f.read()])),
    fill(spec) {
      for (const f of fields) f.write(spec[f.path]);
    },
    showErrors(details = []) {
      for (const node of element.querySelectorAll("[data-error]")) node.textContent = "";
      for (const node of element.querySelectorAll(".invalid")) node.classList.remove("invalid");
      general.textContent = "";
      for (const detail of details) {
        const target = element.querySelector(`[data-error="${CSS.escape(detail.field)}"]`)
          || element.querySelector(`[data-error="${CSS.escape(detail.field.split(".").slice(0, -1).join("."))}"]`);
        const text = `${detail.message}${detail.received !== undefined && detail.received !== null ? ` (received ${JSON.stringify(detail.received)})` : ""}`;
        if (target) {
          target.textContent = text;
          target.closest(".field")?.classList.add("invalid");
        } else {
          general.textContent += `${detail.field}: ${text}. `;
        }
      }
    },
  };
}
