// The operator console: deployments, the last minute of traffic, failures and swaps, from the
// admin API. The admin key typed here stays in this page's memory and is sent only as the
// Authorization header of the admin API on this host. Everything from the server is put into
// the page as text (textContent), never as markup.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const REFRESH_MS = 3000;
  let key = "";
  let timer = null;
  let refreshes = 0;

  function el(tag, cls, value) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (value !== undefined) e.textContent = value == null ? "" : String(value);
    return e;
  }

  async function admin(path, init) {
    const response = await fetch(path, Object.assign({
      cache: "no-store",
      credentials: "omit",
    }, init, {
      headers: Object.assign({ Authorization: "Bearer " + key }, (init || {}).headers || {}),
    }));
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    return { status: response.status, ok: response.ok, body };
  }

  // A small line chart of `values` (null: no point); the last value is written beside it.
  function sparkline(label, values, unit) {
    const box = el("div", "spark");
    box.appendChild(el("span", "spark-label", label));
    const width = 120;
    const height = 28;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
    const present = values.filter((v) => v != null);
    const max = Math.max(1e-9, ...present);
    const n = Math.max(values.length - 1, 1);
    let points = "";
    values.forEach((v, i) => {
      if (v == null) return;
      const x = (i / n) * (width - 2) + 1;
      const y = height - 2 - (v / max) * (height - 4);
      points += x.toFixed(1) + "," + y.toFixed(1) + " ";
    });
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.trim());
    line.setAttribute("class", "spark-line");
    svg.appendChild(line);
    box.appendChild(svg);
    const last = values.length ? values[values.length - 1] : null;
    box.appendChild(el("span", "spark-value", last == null ? "–" : format(last) + unit));
    return box;
  }

  function format(v) {
    if (v >= 100) return v.toFixed(0);
    if (v >= 10) return v.toFixed(1);
    return v.toFixed(2);
  }

  const ERROR_KINDS = [
    ["traps", "traps"],
    ["timeouts", "timeouts"],
    ["memory_limit_hits", "memory-limit hits"],
    ["overloaded", "503s"],
    ["script_errors", "script errors"],
  ];

  function card(d, series) {
    const c = el("article", "card deployment");
    c.dataset.name = d.name;
    const head = el("div", "card-head");
    head.appendChild(el("h3", "name", d.name));
    head.appendChild(el("span", "badge " + (d.status === "ready" ? "ok" : "bad"), d.status));
    c.appendChild(head);
    const facts = el("dl", "facts");
    const fact = (k, v) => {
      facts.appendChild(el("dt", "", k));
      facts.appendChild(el("dd", "", v));
    };
    if (d.max_instances !== undefined) {
      fact("instances", d.instances + " live of " + d.max_instances +
        (d.scaled_to_zero ? " (scaled to zero)" : ""));
    }
    if (d.version) {
      const dd = el("dd", "mono", d.version.slice(0, 12));
      dd.title = d.version;
      facts.appendChild(el("dt", "", "version"));
      facts.appendChild(dd);
    }
    if (d.world) fact("world", d.world);
    if (d.auth !== undefined) fact("key", d.auth ? "required" : "open");
    c.appendChild(facts);
    if (d.score_uri) {
      const links = el("p", "links");
      const a = el("a", "", "try it");
      a.href = d.score_uri.replace(/score$/, "docs");
      links.appendChild(a);
      c.appendChild(links);
    }
    const s = series || { requests_per_second: [], p50_ms: [], p99_ms: [] };
    const sparks = el("div", "sparks");
    sparks.appendChild(sparkline("req/s", s.requests_per_second, ""));
    sparks.appendChild(sparkline("p50", s.p50_ms, " ms"));
    sparks.appendChild(sparkline("p99", s.p99_ms, " ms"));
    c.appendChild(sparks);
    const errors = el("ul", "errors");
    for (const [field, label] of ERROR_KINDS) {
      const minute = ((s.errors_last_minute || {})[field]) || 0;
      const total = ((s.errors_total || {})[field]) || 0;
      const li = el("li", minute > 0 ? "hot" : "", label + ": " + minute + " (total " + total + ")");
      li.dataset.kind = field;
      errors.appendChild(li);
    }
    c.appendChild(errors);
    return c;
  }

  function time(ms) {
    return new Date(ms).toLocaleTimeString();
  }

  function short(sha) {
    return sha ? sha.slice(0, 12) : "–";
  }

  function showSwaps(swaps) {
    const tbody = $("swaps").tBodies[0];
    tbody.replaceChildren();
    if (!swaps.length) {
      const tr = el("tr");
      const td = el("td", "muted", "No swaps yet.");
      td.colSpan = 6;
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
    for (const s of swaps) {
      const tr = el("tr");
      tr.dataset.deployment = s.deployment;
      tr.appendChild(el("td", "", time(s.t)));
      tr.appendChild(el("td", "", s.deployment));
      const outcome = el("td");
      outcome.appendChild(el("span", "badge " + (s.outcome === "ok" ? "ok" : "bad"), s.outcome));
      tr.appendChild(outcome);
      tr.appendChild(el("td", "mono", short(s.from) + " → " + short(s.to)));
      tr.appendChild(el("td", "", s.ms));
      tr.appendChild(el("td", "message", s.message || ""));
      tbody.appendChild(tr);
    }
  }

  function showNames(names) {
    const select = $("swap-name");
    const chosen = select.value;
    const same = select.options.length === names.length
      && names.every((n, i) => select.options[i].value === n);
    if (same) return;
    select.replaceChildren();
    for (const n of names) {
      const option = el("option", "", n);
      option.value = n;
      select.appendChild(option);
    }
    if (names.includes(chosen)) select.value = chosen;
  }

  function lock(message) {
    document.body.dataset.state = "denied";
    $("main").hidden = true;
    $("state").textContent = message;
    if (timer) clearInterval(timer);
    timer = null;
  }

  async function refresh() {
    let list, recent, swaps;
    try {
      [list, recent, swaps] = await Promise.all([
        admin("/api/v1/deployments"),
        admin("/api/v1/metrics/recent"),
        admin("/api/v1/swaps"),
      ]);
    } catch (e) {
      $("state").textContent = "The server did not answer (" + e.message + "); retrying.";
      return;
    }
    if (!list.ok) {
      const why = list.body && list.body.message ? list.body.message : "";
      lock("The admin API answered " + list.status + ". " + why);
      return;
    }
    const series = {};
    for (const s of (recent.ok && recent.body ? recent.body.deployments : [])) series[s.name] = s;
    const grid = $("deployments");
    const cards = list.body.deployments.map((d) => card(d, series[d.name]));
    grid.replaceChildren(...cards);
    showNames(list.body.deployments.filter((d) => d.version).map((d) => d.name));
    showSwaps(swaps.ok && swaps.body ? swaps.body.swaps : []);
    $("main").hidden = false;
    document.body.dataset.state = "open";
    document.body.dataset.refreshes = String(++refreshes);
    $("state").textContent = list.body.deployments.length + " deployments · refreshed at "
      + new Date().toLocaleTimeString() + " · every " + REFRESH_MS / 1000 + " s";
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    key = $("key").value.trim();
    if (!key) {
      lock("Type the admin key first.");
      return;
    }
    if (timer) clearInterval(timer);
    timer = setInterval(refresh, REFRESH_MS);
    refresh();
  });

  $("swap-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("swap-name").value;
    const change = {};
    const plugin = $("swap-plugin").value.trim();
    const model = $("swap-model").value.trim();
    if (plugin) change.plugin = plugin;
    if (model) change.model_dir = model;
    const result = $("swap-result");
    result.className = "muted";
    result.textContent = "Swapping " + name + "…";
    $("swap").disabled = true;
    try {
      const r = await admin("/api/v1/service/" + encodeURIComponent(name), {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(change),
      });
      if (r.ok) {
        result.className = "ok-text";
        result.textContent = "Swapped " + name + " to " + short(r.body.version) + ".";
      } else {
        result.className = "bad-text";
        result.textContent = "Refused (" + r.status + "): " + ((r.body || {}).message || "");
      }
    } catch (e) {
      result.className = "bad-text";
      result.textContent = "The request failed: " + e.message;
    }
    result.dataset.done = "true";
    $("swap").disabled = false;
    refresh();
  });
})();
