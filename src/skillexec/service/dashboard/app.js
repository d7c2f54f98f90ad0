// skillexec dashboard: plain JS over the service's own API (no CDN, no framework).
// Text from the server is always set with textContent, never as HTML. This file: the key,
// the API, the WebSocket, reports and skills; run.js: the form to run a skill and its run;
// tasks.js: the tasks table and a task's view; audit.js: the audit log. They share one
// global scope (classic scripts).
"use strict";
const $ = (sel) => document.querySelector(sel);
const TERMINAL = ["succeeded", "failed", "cancelled", "rejected", "timed_out"];
let key = localStorage.getItem("skillexec.key") || "";
let open = false;             // the server asks no key (skillexec serve --insecure-no-auth)
let reportsRefused = "";        // why this key may not read reports
let me = null;                // this key's role and what it may do (GET /api/whoami, once a key)
// Why the key was refused (401, or the WebSocket closed 1008): nothing more is asked with
// it until another key is entered. A revoked key's tab asked twice a second for ever, each
// refusal an audit record, and used up its address's allowance of failed key checks.
let refused = "";
// What /health said last: ok, starting, draining (shutting down), journal_unwritable, or
// down (no answer); and how many refreshes in a row found it down (they are spaced out).
let service = "ok";
let downFor = 0;
let warning = "";             // /health's warning (authentication is off)
let keptSession = "";         // the workspace picked for scripts: kept as the script or skill changes
const progress = new Map();   // task id -> {fraction, message}
const followed = new Set();   // task ids followed over the WebSocket
let ws = null;
let run = null;               // the task started from the form: {id, done}

class ApiError extends Error {
  constructor(status, body) {
    const e = body.error || {};
    super(e.message || body.detail || body.message || ("HTTP " + status));
    this.status = status; this.code = e.code || ""; this.field = e.field || null;
  }
}

async function api(path, options) {
  if (refused) throw new ApiError(401, {message: refused});
  const h = Object.assign({"X-API-Key": key}, options && options.headers);
  let res;
  try { res = await fetch(path, Object.assign({}, options, {headers: h})); } catch (e) {
    // The browser's own words ("Failed to fetch") said nothing of what happened.
    throw new ApiError(0, {message: "the service is unreachable (stopped, restarting, or the network)"});
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new ApiError(res.status, body);
    if (res.status === 401 && !open) keyRefused(err.message);
    throw err;
  }
  return body.data !== undefined ? body.data : body;
}

// The key is not (or no longer) valid: stop asking with it (the polls, the WebSocket), say
// so, and say that the run being followed is of unknown state now.
function keyRefused(why) {
  if (refused) return;
  refused = why || "the API key was refused";
  const old = ws;
  ws = null;
  if (old) old.close();
  followed.clear();
  if (run && !run.done) {
    run.done = true;
    runState("unknown", null, "the key was refused before this run's end was seen: " +
      "its state is unknown (a valid key of its owner shows it in the tasks table)");
  }
  refusedNotice();
}

function refusedNotice() {
  notice("The API key was refused (" + refused + "). Nothing more is asked with it: " +
    "enter a valid key above, or forget it.");
}

function notice(text) {
  const n = $("#notice");
  n.hidden = !text;
  n.textContent = text || "";
}

// Text a skill controls is shown with its control characters escaped (\uXXXX), as the
// command line shows it: C0 but newline and tab, DEL, C1, and the bidi overrides and
// isolates, which reorder what follows them (an output or a name could spoof another).
// Colour and style codes (ESC [ ... m) are dropped first, as the command line drops them.
const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const SGR = /\u001b\[[0-9;:]*m/g;
function safe(text) {
  return String(text).replace(SGR, "").replace(HIDDEN, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? "" : safe(text);
  if (cls) td.className = cls;
  return td;
}

function fill(table, rows, draw) {
  const body = $(table + " tbody");
  body.replaceChildren();
  for (const r of rows) draw(body.insertRow(), r);
  label(body.closest("table"));
}

// Each cell's column heading, for a narrow window's layout (style.css: a row as lines of
// "heading: value").
function label(t) {
  const heads = t && t.tHead && t.tHead.rows.length ? [...t.tHead.rows[0].cells].map((c) => c.textContent) : [];
  for (const row of t ? t.tBodies[0].rows : []) {
    [...row.cells].forEach((c, i) => { if (c.colSpan === 1 && heads[i]) c.dataset.label = heads[i]; });
  }
}

// A time of today as the time of day; an older one with its date (a bare time of day was
// ambiguous for tasks more than a day old).
function when(t) {
  if (!t) return "";
  const d = new Date(t * 1000);
  return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
}

function bar(el, fraction) { el.firstChild.style.width = Math.round(fraction * 100) + "%"; }

async function health() {
  const pill = $("#health");
  try {
    const h = await (await fetch("/health", {cache: "no-store"})).json();
    pill.textContent = h.status + " · running " + h.engine.running + " · queued " + h.engine.queue_depth;
    pill.className = "pill " + (h.ready ? "ok" : "bad");
    open = String(h.auth || "").startsWith("DISABLED");
    warning = h.warning || "";
    service = h.status;
    downFor = 0;
  } catch (e) {
    pill.textContent = "unreachable";
    pill.className = "pill bad";
    service = "down";
    downFor++;
  }
}

// The next refresh's delay: every 3 s, spaced out to 15 s while the service is down (each
// try is a connection refused in the console).
function nextDelay() { return downFor ? Math.min(15000, 3000 * 2 ** Math.min(downFor - 1, 3)) : 3000; }

// What the page says of the service (or "" when there is nothing to say).
function serviceNotice() {
  if (service === "down") {
    return "The service is unreachable (stopped, restarting, or the network): trying again in " +
      Math.round(nextDelay() / 1000) + " s.";
  }
  if (service === "draining") {
    return "The service is shutting down (draining): running tasks go on for its grace period; " +
      "this page follows its run by polling and reconnects once the service is back.";
  }
  return warning ? "Warning: " + warning : "";
}

// A note beside the run's state while the page cannot follow it live.
function runAside(text) {
  $("#runnote").textContent = run && !run.done ? text : "";
}

function follow(taskId) {
  if (followed.has(taskId) || !ws || ws.readyState !== WebSocket.OPEN) return;
  followed.add(taskId);
  // Its end without its result (result: false): the run panel asks for its own run's once.
  ws.send(JSON.stringify({type: "subscribe", task_id: taskId, result: false}));
}

function connect() {
  // A WebSocket without a key is refused (unless the server asks none): not worth a
  // failed handshake.
  // Not while the service drains or is down: refresh() connects once it is back.
  if (ws || refused || (!key && !open) || !["ok", "journal_unwritable"].includes(service)) return;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  // The key goes in a subprotocol, never the URL: servers and proxies log URLs.
  const protocols = key ? ["skillexec", "skillexec.key." + key] : ["skillexec"];
  const sock = new WebSocket(proto + "//" + location.host + "/api/skills/ws", protocols);
  ws = sock;
  sock.onopen = () => { if (run && !run.done) { follow(run.id); runAside(""); } };
  sock.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "progress") progress.set(msg.task_id, {fraction: msg.fraction || 0, message: msg.message || ""});
    if (msg.type === "complete") { progress.delete(msg.task_id); followed.delete(msg.task_id); }
    liveRow(msg);  // tasks.js
    if (run && msg.task_id === run.id) runEvent(msg);
  };
  sock.onclose = (ev) => {
    followed.clear();
    if (ws !== sock) return;
    ws = null;
    // 1008: the key is no longer valid (revoked or expired): no reconnecting with it.
    if (ev.code === 1008) keyRefused(ev.reason || "the key is no longer valid");
    else if (ev.code === 1001) {  // shutting down: poll() follows the run meanwhile
      service = "draining";
      notice(serviceNotice());
      runAside("the service is shutting down: following this run by polling");
    }
    // Reconnected by refresh(), once /health answers ok.
  };
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

// ``text`` cut to ``width`` pixels, its middle left out: an id's start and its script's
// name say the most.
function fitted(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  for (let keep = text.length - 1; keep > 1; keep--) {
    const head = Math.ceil(keep / 2);
    const cut = text.slice(0, head) + "\u2026" + text.slice(text.length - (keep - head));
    if (ctx.measureText(cut).width <= width) return cut;
  }
  return "\u2026";
}

function latency(skills) {
  const canvas = $("#latency");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const rows = skills.filter((s) => typeof s.p95_ms === "number").slice(0, 8);
  if (!rows.length) return;
  const max = Math.max(1, ...rows.map((s) => s.p95_ms));
  const h = (canvas.height - 16) / rows.length;
  // The labels' column is as wide as the longest (at most 40% of the chart), and a label
  // longer is cut to it: a long id (a plugin's skill and its script) was drawn over the bars.
  const names = rows.map((s) => safe(s.skill));
  const left = Math.min(Math.round(canvas.width * 0.4),
    Math.ceil(Math.max(...names.map((n) => ctx.measureText(n).width))) + 12);
  const w = canvas.width - left - 4;
  rows.forEach((s, i) => {
    const y = 16 + i * h;
    ctx.fillStyle = "#333"; ctx.fillText(fitted(ctx, names[i], left - 10), 4, y + h * 0.7);
    ctx.fillStyle = "#9bb8e6"; ctx.fillRect(left, y + 2, Math.max(2, s.p95_ms / max * w), h - 4);
    ctx.fillStyle = "#1f5fbf"; ctx.fillRect(left, y + 2, Math.max(2, (s.p50_ms || 0) / max * w), h - 4);
  });
  ctx.fillStyle = "#333";
  ctx.fillText("latency per skill: p50 (dark), p95 (light); longest p95 " + Math.round(max) + " ms", 4, 11);
}

function may(action) { return !!me && me.may.includes(action); }

// Reports a key's role may not read are not asked for: each refusal (403) was a console
// error on every load. A 403 still (the key's role changed since) says the same.
function refuseReports(why) {
  reportsRefused = "Reports need a viewer, operator or admin key (" + why + ").";
  $("#perf").textContent = reportsRefused;
  $("#alertinfo").textContent = "";
  for (const c of ["#chart", "#latency"]) $(c).getContext("2d").clearRect(0, 0, $(c).width, $(c).height);
  fill("#errors", [reportsRefused], (row, text) => { cell(row, text, "msg").colSpan = 4; });
  fill("#alerts", [reportsRefused], (row, text) => { cell(row, text, "msg").colSpan = 6; });
}

async function reports() {
  if (!reportsRefused && !may("reports")) refuseReports("this key's role is " + me.role);
  if (reportsRefused) return new Map();
  let perf;
  try { perf = await api("/api/reports/performance?since=1h"); } catch (e) {
    if (e.status !== 403) throw e;
    refuseReports(e.message);
    return new Map();
  }
  chart(perf);
  latency(perf.skills || []);
  const t = document.createElement("table");
  const head = t.createTHead().insertRow();
  for (const h of ["skill", "n", "p50 ms", "p95 ms", "p99 ms"]) cell(head, h);
  const rows = t.createTBody();
  for (const s of perf.skills || []) {
    const r = rows.insertRow();
    cell(r, s.skill, "id"); cell(r, s.calls);
    for (const k of ["p50_ms", "p95_ms", "p99_ms"]) cell(r, s[k] === null || s[k] === undefined ? "" : Math.round(s[k]));
  }
  label(t);
  $("#perf").replaceChildren(t);
  const errors = await api("/api/reports/errors?since=24h");
  fill("#errors", (errors.groups || []).slice(0, 15), (row, g) => {
    cell(row, g.skill_id); cell(row, g.error_type + " / " + (g.codes || []).join(", "));
    cell(row, g.count); cell(row, g.example_message || "", "msg");
  });
  await alerts();
  const summary = await api("/api/reports/summary?since=24h");
  return new Map((summary.busiest_skills || []).map((s) => [s.skill, s]));
}

// Firing now first (as each was last sent), then what was sent in the last 24 hours.
async function alerts() {
  const a = await api("/api/alerts?since=24h&limit=15");
  $("#alertinfo").textContent = a.evaluating
    ? "(" + a.active.length + " firing · " + a.rules.length + (a.rules.length === 1 ? " rule" : " rules") + ", checked every " + a.interval_s + " s)"
    : "(the rules are not evaluated by this service)";
  const rows = a.active.map((x) => Object.assign({}, x, {state: "firing now"}))
    .concat(a.recent.map((x) => Object.assign({}, x, {state: x.state === "firing" ? "fired" : x.state})));
  if (!rows.length) {
    fill("#alerts", ["none in the last 24 hours"], (row, text) => { cell(row, text, "msg").colSpan = 6; });
    return;
  }
  fill("#alerts", rows, (row, x) => {
    cell(row, x.state, x.state === "firing now" ? "firing" : x.state);
    cell(row, x.severity); cell(row, x.rule); cell(row, x.subject); cell(row, when(x.at));
    cell(row, x.message, "msg");
  });
}

// Pages of the skill list read at most: a folder of thousands (a marketplace's 3,559)
// showed its first 500 and never said more existed.
const MAX_SKILL_PAGES = 10;

async function skills() {
  const bySkill = await reports();
  let list = [], total = 0;
  for (let page = 0; page < MAX_SKILL_PAGES; page++) {
    const got = await api(`/api/skills?limit=500&offset=${list.length}`);
    list = list.concat(got.skills); total = got.total;
    if (list.length >= total || !got.skills.length) break;
  }
  $("#skillcount").textContent = list.length < total
    ? `(the first ${list.length} of ${total}: GET /api/skills pages the rest)` : `(${total})`;
  skillFilter(list.map((s) => s.id));  // tasks.js
  fill("#skills", list, (row, s) => {
    const b = bySkill.get(s.id) || {};
    cell(row, s.id, "id"); cell(row, s.version); cell(row, s.offers); cell(row, s.isolation);
    cell(row, s.environment, s.environment === "failed" ? "failed" : "");
    cell(row, s.circuit, s.circuit === "closed" ? "" : "failed");
    cell(row, reportsRefused ? "" : b.calls || 0);
    cell(row, b.success_rate === undefined || b.success_rate === null ? "" : Math.round(b.success_rate * 100) + "%");
  });
  const select = $("#runskill");
  // Skills with an entry point or bundled scripts: one with instructions only has nothing
  // to run (the API would answer 409 no_entry_point).
  const runnable = list.filter((s) => s.runnable || /\bscripts?$/.test(s.offers));
  if (!select.options.length && runnable.length) {
    for (const s of runnable) {
      const o = document.createElement("option");
      o.value = s.id; o.textContent = s.id;
      select.appendChild(o);
    }
    form();
  }
}

async function refresh() {
  await health();
  if (service === "down") {
    notice(serviceNotice());
    runAside("the service is unreachable: this run's state shows once it is back");
    return;
  }
  if (!key && !open) { notice("Enter an API key above (a viewer key is enough to watch)."); return; }
  if (refused) { refusedNotice(); return; }
  try {
    if (!me) me = await api("/api/whoami");
    connect();  // once /health has said whether a key is needed, and the key was taken
    if (may("audit")) await audit();
    // A key for the audit log only (auditor): the panels it may not read are not shown.
    document.body.classList.toggle("auditonly", !may("skills"));
    if (!may("skills")) {
      notice("This key's role (" + me.role + ") reads the audit log (below), not skills, tasks or " +
        "reports: enter a viewer key or one that may run for those.");
      return;
    }
    await tasks(); await skills();
    notice(serviceNotice());
  }
  catch (e) { notice(e.status === 0 ? serviceNotice() || e.message : e.message); }
}

// refresh() again and again, each once the last is done (a slow one overlapped the next).
async function tick() {
  try { await refresh(); } finally { setTimeout(tick, nextDelay()); }
}

// Another key (or none): nothing of the last one's is kept, its run included (a new key's
// poll of it was a 404, and the panel said "running" for ever).
function useKey(k) {
  key = k;
  if (key) localStorage.setItem("skillexec.key", key);
  else localStorage.removeItem("skillexec.key");
  refused = "";
  reportsRefused = "";
  me = null;
  keptSession = "";  // another key's sessions are not this one's
  run = null;
  progress.clear();
  followed.clear();
  runState("", 0, "");
  for (const id of ["#runerror", "#runresult", "#sessionfiles", "#runid", "#runnote"]) $(id).textContent = "";
  $("#runcancel").hidden = true;
  $("#runartifacts").replaceChildren();
  $("#runskill").replaceChildren();
  resetTasks();  // tasks.js: the first page, no task open
  resetAudit();  // audit.js
  document.body.classList.remove("auditonly");
  const old = ws;
  ws = null;
  if (old) old.close();
  refresh();
}

$("#keyform").onsubmit = (ev) => {
  ev.preventDefault();
  useKey($("#key").value.trim());
};
// On a shared machine the key stays in this browser's storage until it is forgotten.
$("#forgetkey").onclick = () => {
  $("#key").value = "";
  useKey("");
};
// Once run.js, tasks.js and audit.js have been read too.
document.addEventListener("DOMContentLoaded", tick);
