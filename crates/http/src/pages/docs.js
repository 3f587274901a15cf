// The try-it page of one deployment: reads the deployment's OpenAPI 3 document (beside this
// page), lists its inputs, pre-fills the request body with the sample and scores it.
// Everything the plugin or a client controls is put into the page as text (textContent),
// never as markup. A key typed here stays in this page's memory and goes only to `score`.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const world = document.body.dataset.world;
  const needsKey = document.body.dataset.auth === "true";
  const raw = world === "raw-scorer";
  let sample = "";

  function text(el, value) {
    el.textContent = value == null ? "" : String(value);
    return el;
  }

  function cell(row, value, tag) {
    const td = document.createElement(tag || "td");
    text(td, value);
    row.appendChild(td);
    return td;
  }

  // `{"$ref": "#/components/schemas/X"}` → the schema it names.
  function resolve(doc, schema) {
    let s = schema;
    for (let i = 0; s && s.$ref && i < 16; i++) {
      const parts = String(s.$ref).replace(/^#\//, "").split("/");
      s = parts.reduce((node, key) => (node ? node[key] : undefined), doc);
    }
    return s || {};
  }

  function typeLabel(doc, schema, depth) {
    const s = resolve(doc, schema);
    if ((depth || 0) > 8) return "…";
    if (s.type === "array") return typeLabel(doc, s.items, (depth || 0) + 1) + "[]";
    if (s.type === "object" && s.properties) {
      const fields = Object.keys(s.properties).map(
        (k) => k + ": " + typeLabel(doc, s.properties[k], (depth || 0) + 1));
      return "{" + fields.join(", ") + "}";
    }
    if (!s.type) return "any JSON";
    return s.format ? s.type + " (" + s.format + ")" : s.type;
  }

  // The sample's shape, batch axis first: numpy [n, 10], frames "n rows".
  function shapeLabel(format, example) {
    if (!Array.isArray(example)) return example === undefined ? "" : "scalar";
    const dims = [];
    let v = example;
    while (Array.isArray(v) && dims.length < 8) {
      dims.push(v.length);
      v = v[0];
    }
    if (format && format.indexOf("pandas") === 0) return "n rows (sample: " + dims[0] + ")";
    return "[n" + dims.slice(1).map((d) => ", " + d).join("") + "]  (sample: [" + dims.join(", ") + "])";
  }

  function scorePath(doc) {
    const paths = Object.keys(doc.paths || {});
    return paths.find((p) => /\/score$/.test(p)) || "/score";
  }

  function showInputs(doc) {
    const op = ((doc.paths || {})[scorePath(doc)] || {}).post || {};
    const content = ((op.requestBody || {}).content || {})["application/json"] || {};
    const input = resolve(doc, content.schema);
    const props = input.properties || {};
    const example = input.example || {};
    const tbody = $("inputs").tBodies[0];
    const rows = [];
    // One row per top-level parameter; the Power BI `Inputs` object one row per entry.
    for (const top of Object.keys(props)) {
      const s = resolve(doc, props[top]);
      if (top === "Inputs" && s.properties && Object.keys(s.properties).length > 0) {
        for (const name of Object.keys(s.properties)) {
          const e = resolve(doc, s.properties[name]);
          rows.push([name, typeLabel(doc, e), e.format || "", shapeLabel(e.format, (example.Inputs || {})[name])]);
        }
      } else {
        rows.push([top, typeLabel(doc, s), s.format || "", shapeLabel(s.format, example[top])]);
      }
    }
    if (rows.length === 0) {
      rows.push(["(body)", "free-form: run() gets the request body as text", "", ""]);
    }
    for (const r of rows) {
      const tr = document.createElement("tr");
      r.forEach((v, i) => cell(tr, v, i === 0 ? "th" : "td"));
      tbody.appendChild(tr);
    }
    const out = (op.responses || {})["200"] || {};
    const outSchema = ((out.content || {})["application/json"] || {}).schema;
    if (outSchema) text($("output-type"), "Output: " + typeLabel(doc, outSchema));
    $("inputs-card").hidden = false;
    sample = format(input.example !== undefined ? input.example : { Inputs: {} }, "");
    $("body").value = sample;
  }

  function headersFor(contentType) {
    const headers = {};
    if (contentType) headers["Content-Type"] = contentType;
    const key = $("key").value.trim();
    if (needsKey && key) headers.Authorization = "Bearer " + key;
    return headers;
  }

  // JSON, two-space indented, but a value that fits on a line stays on one line (rows of a
  // matrix, records of a frame), so a sample or a result reads without scrolling.
  function oneLine(v) {
    if (Array.isArray(v)) return "[" + v.map(oneLine).join(", ") + "]";
    if (v && typeof v === "object") {
      return "{" + Object.keys(v).map((k) => JSON.stringify(k) + ": " + oneLine(v[k])).join(", ") + "}";
    }
    return JSON.stringify(v);
  }

  function format(v, indent) {
    const line = oneLine(v);
    const nested = v && typeof v === "object";
    if (!nested || (indent.length > 0 && indent.length + line.length <= 78)) return line;
    const inner = indent + "  ";
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      return "[\n" + v.map((x) => inner + format(x, inner)).join(",\n") + "\n" + indent + "]";
    }
    const keys = Object.keys(v);
    if (keys.length === 0) return "{}";
    return "{\n" + keys.map((k) => inner + JSON.stringify(k) + ": " + format(v[k], inner)).join(",\n")
      + "\n" + indent + "}";
  }

  function pretty(body, contentType) {
    if (/json/i.test(contentType || "")) {
      try {
        return format(JSON.parse(body), "");
      } catch (e) {
        return body;
      }
    }
    return body;
  }

  let count = 0;
  async function send(init) {
    const card = $("response-card");
    card.dataset.state = "pending";
    text($("status"), "…");
    $("status").className = "badge";
    text($("latency"), "");
    text($("result"), "");
    const tbody = $("headers").tBodies[0];
    tbody.replaceChildren();
    card.hidden = false;
    const started = performance.now();
    try {
      const response = await fetch("score", Object.assign({ cache: "no-store", credentials: "omit" }, init));
      const type = response.headers.get("content-type") || "";
      let shown;
      if (/^(image|audio|video)\/|octet-stream/i.test(type)) {
        const bytes = await response.arrayBuffer();
        shown = "(" + bytes.byteLength + " bytes of " + type + ")";
      } else {
        shown = pretty(await response.text(), type);
      }
      const ms = performance.now() - started;
      text($("status"), response.status + " " + response.statusText);
      $("status").className = "badge " + (response.ok ? "ok" : "bad");
      text($("latency"), ms.toFixed(1) + " ms");
      text($("result"), shown);
      for (const [name, value] of response.headers) {
        const tr = document.createElement("tr");
        cell(tr, name, "th");
        cell(tr, value);
        tbody.appendChild(tr);
      }
    } catch (e) {
      text($("status"), "no response");
      $("status").className = "badge bad";
      text($("result"), "The request failed: " + e.message);
    }
    card.dataset.count = String(++count);
    card.dataset.state = "done";
  }

  function score() {
    const method = raw ? $("method").value : "POST";
    const contentType = raw ? $("content-type").value.trim() : "application/json";
    const init = { method, headers: headersFor(method === "GET" ? "" : contentType) };
    if (method !== "GET") init.body = $("body").value;
    send(init);
  }

  function upload() {
    const file = $("file").files[0];
    if (!file) {
      $("response-card").hidden = false;
      text($("status"), "no file");
      $("status").className = "badge bad";
      text($("result"), "Choose a file first.");
      return;
    }
    const form = new FormData();
    form.append($("field").value.trim() || "file", file, file.name);
    // The browser sets the multipart content type with its boundary.
    send({ method: "POST", headers: headersFor(""), body: form });
  }

  async function load() {
    const match = /\/api\/v1\/service\/([^/]+)\/docs$/.exec(location.pathname);
    const score = new URL("score", location.href).href;
    text($("endpoint"), (match ? decodeURIComponent(match[1]) + " · " : "") + "POST " + score);
    $("key-card").hidden = !needsKey;
    if (raw) {
      $("upload-card").hidden = false;
      $("raw-controls").hidden = false;
      text($("body-title"), "Request body (free-form: the script gets the whole request)");
      sample = "{}";
      $("body").value = sample;
    }
    try {
      const response = await fetch("swagger.json?version=3", { cache: "no-store" });
      if (!response.ok) throw new Error("swagger.json answered " + response.status);
      const doc = await response.json();
      const info = doc.info || {};
      text($("title"), (info.title || "") + (info.version ? " " + info.version : ""));
      document.title = "scorehost · " + (info.title || "try it");
      if (!raw) showInputs(doc);
    } catch (e) {
      const box = $("load-error");
      text(box, "Could not read this deployment's OpenAPI document: " + e.message);
      box.hidden = false;
    }
    document.body.dataset.ready = "true";
  }

  $("score").addEventListener("click", score);
  $("upload").addEventListener("click", upload);
  $("reset").addEventListener("click", () => { $("body").value = sample; });
  load();
})();
