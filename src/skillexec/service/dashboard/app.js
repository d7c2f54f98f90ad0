// skillexec dashboard: plain JS over the service's own API (no CDN, no framework).
// Text from the server is always set with textContent, never as HTML.
"use strict";
const $ = (sel) => document.querySelector(sel);
let key = localStorage.getItem("skillexec.key") || "";
const progress = new Map();   // task id -> {fraction, message}
const followed = new Set();   // task ids followed over the WebSocket
let ws = null;

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (key) h["X-API-Key"] = key;
  return h;
}

async function api(path, options) {
  const res = await fetch(path, Object.assign({}, options, {headers: headers(options && options.headers)}));
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.detail || body.message || ("HTTP " + res.status));
  return body.data !== undefined ? body.data : body;
}

function notice(text) {
  const n = $("#notice");
  n.hidden = !text;
  n.textContent = text || "";
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}

function fill(table, rows, draw) {
  const body = $(table + " tbody");
  body.replaceChildren();
  for (const r of rows) draw(body.insertRow(), r);
}

function when(t) { return t ? new Date(t * 1000).toLocaleTimeString() : ""; }

async function health() {
  try {
    const res = await fetch("/health");
    const h = await res.json();
    const pill = $("#health");
    pill.textContent = h.status + " · running " + h.engine.running + " · queued " + h.engine.queue_depth;
    pill.className = "pill " + (h.ready ? "ok" : "bad");
    if (h.warning) notice("Warning: " + h.warning);
  } catch (e) { $("#health").textContent = "unreachable"; }
}

async function tasks() {
  const data = await api("/api/executions?limit=30");
  $("#taskcount").textContent = "(newest " + data.items.length + ")";
  fill("#tasks", data.items, (row, t) => {
    cell(row, t.task_id.slice(-10));
    cell(row, t.skill_id);
    cell(row, t.status, t.status);
    const p = progress.get(t.task_id);
    const td = row.insertCell();
    if (p && !["succeeded", "failed", "cancelled", "rejected", "timed_out"].includes(t.status)) {
      const bar = document.createElement("span");
      bar.className = "bar";
      const fillBar = document.createElement("span");
      fillBar.style.width = Math.round(p.fraction * 100) + "%";
      bar.appendChild(fillBar);
      td.appendChild(bar);
      td.appendChild(document.createTextNode(" " + p.message));
    }
    cell(row, t.attempts);
    cell(row, when(t.created_at));
    cell(row, t.result && t.result.metrics.wall_ms !== undefined ? Math.round(t.result.metrics.wall_ms) : "");
    if (["running", "queued", "retrying"].includes(t.status)) follow(t.task_id);
  });
}

function follow(taskId) {
  if (followed.has(taskId) || !ws || ws.readyState !== WebSocket.OPEN) return;
  followed.add(taskId);
  ws.send(JSON.stringify({type: "subscribe", task_id: taskId}));
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const q = key ? "?api_key=" + encodeURIComponent(key) : "";
  ws = new WebSocket(proto + "//" + location.host + "/api/skills/ws" + q);
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "progress") progress.set(msg.task_id, {fraction: msg.fraction || 0, message: msg.message || ""});
    if (msg.type === "complete") { progress.delete(msg.task_id); followed.delete(msg.task_id); }
  };
  ws.onclose = () => { followed.clear(); setTimeout(connect, 3000); };
}

function chart(perf) {
  const canvas = $("#chart");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const calls = (perf.throughput && perf.throughput.calls) || [];
  const errs = (perf.throughput && perf.throughput.errors) || [];
  if (!calls.length) return;
  const max = Math.max(1, ...calls);
  const w = canvas.width / calls.length;
  calls.forEach((c, i) => {
    const h = c / max * (canvas.height - 20);
    const e = (errs[i] || 0) / max * (canvas.height - 20);
    ctx.fillStyle = "#1f5fbf";
    ctx.fillRect(i * w + 1, canvas.height - h, w - 2, h - e);
    ctx.fillStyle = "#c0392b";
    ctx.fillRect(i * w + 1, canvas.height - e, w - 2, e);
  });
  ctx.fillStyle = "#333";
  const perS = Math.max(0, ...(perf.throughput.per_s || [0]));
  ctx.fillText("max " + max + " tasks per " + Math.round(perf.throughput.bin_s) + " s bin (" + perS.toFixed(2) + "/s); red: failed", 4, 12);
}

async function reports() {
  const perf = await api("/api/reports/performance?since=1h");
  chart(perf);
  const div = $("#perf");
  div.replaceChildren();
  const t = document.createElement("table");
  const head = t.createTHead().insertRow();
  for (const h of ["skill", "n", "p50 ms", "p95 ms", "p99 ms"]) cell(head, h);
  for (const s of perf.skills || []) {
    const r = t.insertRow();
    cell(r, s.skill); cell(r, s.calls);
    for (const k of ["p50_ms", "p95_ms", "p99_ms"]) cell(r, s[k] === null || s[k] === undefined ? "" : Math.round(s[k]));
  }
  div.appendChild(t);
  const summary = await api("/api/reports/summary?since=24h");
  const bySkill = new Map((summary.busiest_skills || []).map((s) => [s.skill, s]));
  const skills = await api("/api/skills?limit=500");
  fill("#skills", skills.skills, (row, s) => {
    const b = bySkill.get(s.id) || {};
    cell(row, s.id); cell(row, s.version); cell(row, s.isolation);
    cell(row, b.calls || 0);
    cell(row, b.success_rate === undefined || b.success_rate === null ? "" : Math.round(b.success_rate * 100) + "%");
  });
  const errors = await api("/api/reports/errors?since=24h");
  fill("#errors", (errors.groups || []).slice(0, 15), (row, g) => {
    cell(row, g.skill_id); cell(row, g.error_type + " / " + (g.codes || []).join(", "));
    cell(row, g.count); cell(row, g.example_message || "", "msg");
  });
  const select = $("#runskill");
  if (!select.options.length) {
    for (const s of skills.skills) {
      const o = document.createElement("option");
      o.value = s.id; o.textContent = s.id;
      select.appendChild(o);
    }
    select.onchange = form;
    if (skills.skills.length) form();
  }
}

async function form() {
  const skill = await api("/api/skills/" + encodeURIComponent($("#runskill").value));
  const fields = $("#fields");
  fields.replaceChildren();
  const props = (skill.parameters_schema && skill.parameters_schema.properties) || {};
  const required = new Set(skill.parameters_schema.required || []);
  for (const [name, schema] of Object.entries(props)) {
    const label = document.createElement("label");
    label.textContent = name + (required.has(name) ? " *" : "") + (schema.description ? " — " + schema.description : "");
    let input;
    if (Array.isArray(schema.enum)) {
      input = document.createElement("select");
      for (const v of schema.enum) { const o = document.createElement("option"); o.value = JSON.stringify(v); o.textContent = String(v); input.appendChild(o); }
    } else if (schema.type === "boolean") {
      input = document.createElement("input"); input.type = "checkbox"; input.checked = !!schema.default;
    } else if (schema.type === "object" || schema.type === "array") {
      input = document.createElement("textarea"); input.placeholder = "JSON";
      if (schema.default !== undefined) input.value = JSON.stringify(schema.default);
    } else {
      input = document.createElement("input");
      input.type = schema.type === "integer" || schema.type === "number" ? "number" : "text";
      if (schema.type === "number") input.step = "any";
      if (schema.default !== undefined) input.value = schema.default;
    }
    input.name = name;
    input.dataset.type = Array.isArray(schema.enum) ? "enum" : (schema.type || "string");
    label.appendChild(input);
    fields.appendChild(label);
  }
}

async function run(ev) {
  ev.preventDefault();
  const params = {};
  for (const input of $("#fields").querySelectorAll("[name]")) {
    const t = input.dataset.type;
    if (t === "boolean") params[input.name] = input.checked;
    else if (input.value === "") continue;
    else if (t === "enum" || t === "object" || t === "array") params[input.name] = JSON.parse(input.value);
    else if (t === "integer") params[input.name] = parseInt(input.value, 10);
    else if (t === "number") params[input.name] = parseFloat(input.value);
    else params[input.name] = input.value;
  }
  const out = $("#runresult");
  out.textContent = "running…";
  try {
    const data = await api("/api/skills/" + encodeURIComponent($("#runskill").value) + "/execute", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({parameters: params, wait: true})});
    out.textContent = JSON.stringify(data, null, 2);
  } catch (e) { out.textContent = e.message; }
}

async function refresh() {
  await health();
  try { await tasks(); await reports(); if (!$("#notice").textContent.startsWith("Warning")) notice(""); }
  catch (e) { notice(e.message + (key ? "" : " — enter an API key above")); }
}

$("#keyform").onsubmit = (ev) => {
  ev.preventDefault();
  key = $("#key").value.trim();
  localStorage.setItem("skillexec.key", key);
  if (ws) ws.close();
  refresh();
};
$("#runform").onsubmit = run;
connect();
refresh();
setInterval(refresh, 3000);
