// The API explorer: renders the OpenAPI document at /api/docs and sends requests from
// the page (same origin only). Uses common.js.
"use strict";

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

// A schema reference `#/components/schemas/X` shown as X, arrays as X[].
function schemaName(s) {
  if (!s) return "";
  if (s.$ref) return s.$ref.split("/").pop();
  if (s.type === "array") return schemaName(s.items) + "[]";
  return s.type || "";
}

function operation(path, method, op) {
  const box = el("details", "panel op");
  box.appendChild(el("summary", "mono", method.toUpperCase() + " " + path + "  \u2014  " + (op.summary || "")));
  if (op.description) box.appendChild(el("p", "muted", op.description));
  const inputs = {};
  const params = op.parameters || [];
  for (const p of params) {
    const label = el("label", "param");
    label.appendChild(el("span", "mono", p.name + (p.required ? " *" : "") + " (" + p.in + ")"));
    const input = el("input");
    input.placeholder = p.description || "";
    inputs[p.name] = { input, where: p.in };
    label.appendChild(input);
    box.appendChild(label);
  }
  let body = null;
  if (op.requestBody) {
    const ref = schemaName(op.requestBody.content["application/json"].schema);
    box.appendChild(el("p", "small muted", "JSON body: " + ref));
    body = el("textarea", "mono");
    body.rows = 3;
    body.value = "{}";
    box.appendChild(body);
  }
  const codes = Object.entries(op.responses || {}).map(([code, r]) => {
    const content = r.content && r.content["application/json"];
    return code + (content ? " " + schemaName(content.schema) : "") + (r.description ? ": " + r.description : "");
  });
  box.appendChild(el("p", "small muted", "Responses: " + codes.join("; ")));
  const send = el("button", "", "Send");
  const out = el("pre", "mono result hidden");
  send.addEventListener("click", async () => {
    let url = path;
    const query = new URLSearchParams();
    for (const [name, { input, where }] of Object.entries(inputs)) {
      if (!input.value) continue;
      if (where === "path") url = url.replace("{" + name + "}", encodeURIComponent(input.value));
      else if (where === "query") query.set(name, input.value);
    }
    if ([...query].length) url += "?" + query;
    const headers = { Accept: "application/json" };
    const token = $("token").value.trim();
    if (token && op.security) headers.Authorization = "Bearer " + token;
    if (body) headers["Content-Type"] = "application/json";
    out.classList.remove("hidden");
    try {
      const r = await fetch(url.replace(/^\//, ""), { method: method.toUpperCase(), headers, body: body ? body.value : undefined });
      const text = await r.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
      out.textContent = r.status + " " + r.statusText + "\n" + shown;
    } catch (e) {
      out.textContent = "request failed: " + e.message;
    }
  });
  box.appendChild(send);
  box.appendChild(out);
  return box;
}

async function load() {
  const doc = await api("api/docs");
  setText("title", doc.info.title + " " + doc.info.version);
  setText("description", doc.info.description || "");
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(path, method, op));
    }
  }
  const root = $("operations");
  for (const t of doc.tags || []) {
    if (!byTag.has(t.name)) continue;
    const section = el("section");
    section.appendChild(el("h2", "", t.name + " \u2014 " + (t.description || "")));
    section.append(...byTag.get(t.name));
    root.appendChild(section);
    byTag.delete(t.name);
  }
  for (const [name, ops] of byTag) {
    const section = el("section");
    section.appendChild(el("h2", "", name));
    section.append(...ops);
    root.appendChild(section);
  }
}

load().catch((e) => { setText("description", "Cannot read /api/docs: " + e.message); });
