// skillexec dashboard: the form to run a skill (its entry point's fields from its
// parameters' schema, or one of its scripts with arguments, files and a workspace) and the
// run it started (progress, status, output, artifacts, cancel). Uses app.js's helpers:
// classic scripts share one global scope.
"use strict";

function input(name, schema) {
  let el;
  if (Array.isArray(schema.enum)) {
    el = document.createElement("select");
    for (const v of schema.enum) { const o = document.createElement("option"); o.value = JSON.stringify(v); o.textContent = String(v); el.appendChild(o); }
    if (schema.default !== undefined) el.value = JSON.stringify(schema.default);
  } else if (schema.type === "boolean") {
    el = document.createElement("input"); el.type = "checkbox"; el.checked = !!schema.default;
  } else if (schema.type === "object" || schema.type === "array") {
    el = document.createElement("textarea"); el.placeholder = "JSON";
    if (schema.default !== undefined) el.value = JSON.stringify(schema.default);
  } else {
    el = document.createElement("input");
    // Numbers are typed as text: the service, not the browser, says what is wrong with one.
    el.type = "text";
    if (schema.type === "integer" || schema.type === "number") el.inputMode = "decimal";
    if (schema.default !== undefined) el.value = schema.default;
  }
  el.name = name;
  el.dataset.type = Array.isArray(schema.enum) ? "enum" : (schema.type || "string");
  return el;
}

let formFor = "";
let formReady = Promise.resolve();
function form() {
  // What a submit waits for: a run sent at once after another skill was picked carried
  // the fields of the one before (refused: "'shout' is not allowed").
  const drawn = drawForm();
  formReady = drawn.catch(() => {});  // its own failure is said where it is drawn
  return drawn;
}
async function drawForm() {
  // The first skill's form is asked for as the list fills and again when the user picks
  // one: answers can arrive in either order, and only the current choice's may draw.
  const id = $("#runskill").value;
  formFor = id;
  $("#fields").replaceChildren();  // the last skill's fields are not this one's
  const skill = await api("/api/skills/" + encodeURIComponent(id));
  if (formFor !== id || $("#runskill").value !== id) return;
  const info = $("#skillinfo");
  info.replaceChildren();
  const p = document.createElement("p");
  p.textContent = safe([skill.description, "offers: " + skill.offers, "environment: " + skill.environment,
    "circuit: " + skill.circuit].filter(Boolean).join(" · "));
  info.appendChild(p);
  if (skill.scripts.length) {
    const s = document.createElement("p");
    s.textContent = safe("scripts: " + skill.scripts.join(", "));
    info.appendChild(s);
  }
  if (skill.instructions) {
    const d = document.createElement("details");
    const sum = document.createElement("summary");
    sum.textContent = "instructions";
    const pre = document.createElement("pre");
    pre.textContent = safe(skill.instructions);
    d.append(sum, pre);
    info.appendChild(d);
  }
  // What to run: its entry point (a form from its parameters' schema) or one of its
  // bundled scripts (arguments and files, as a model's shell tool would give them).
  const what = $("#runwhat");
  what.replaceChildren();
  for (const c of (skill.runnable ? [""] : []).concat(skill.scripts)) {
    const o = document.createElement("option");
    o.value = c; o.textContent = c ? "script " + safe(c) : "its entry point";
    what.appendChild(o);
  }
  what.hidden = !skill.scripts.length;
  what.onchange = () => drawFields(skill);
  drawFields(skill);
}

function drawFields(skill) {
  const fields = $("#fields");
  fields.replaceChildren();
  if ($("#runwhat").value) {
    const args = document.createElement("label");
    args.textContent = "arguments — one a line, passed as they are (no shell)";
    const ta = document.createElement("textarea");
    ta.id = "runargs"; ta.rows = 3;
    args.appendChild(ta);
    const files = document.createElement("label");
    files.textContent = "files for its workspace, each under its own name";
    const fi = document.createElement("input");
    fi.type = "file"; fi.id = "runfiles"; fi.multiple = true;
    files.appendChild(fi);
    const where = document.createElement("label");
    where.textContent = "workspace";
    const box = document.createElement("select");
    box.id = "runsession";
    for (const [v, t] of [["", "a fresh one (nothing kept)"], ["new", "a new session (files kept from run to run)"]]) {
      const o = document.createElement("option"); o.value = v; o.textContent = t; box.appendChild(o);
    }
    where.appendChild(box);
    fields.append(args, files, where);
    // The workspace picked before stays picked as another script (or skill) is chosen:
    // step 2 of a workflow ran, unsaid, in a fresh one.
    if (keptSession && keptSession !== "new") addSession(keptSession);
    box.value = keptSession;
    box.onchange = () => { keptSession = box.value; };
    if (may("run")) {  // a key that may not run cannot list them either: fresh only
      api("/api/sessions").then((list) => {
        for (const x of list) addSession(x.id);
      }).catch(() => {});
    }
    return;
  }
  const schema = skill.parameters_schema || {};
  const required = new Set(schema.required || []);
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    const label = document.createElement("label");
    label.textContent = safe(name + (required.has(name) ? " *" : "") + (prop.description ? " — " + prop.description : ""));
    label.appendChild(input(name, prop));
    fields.appendChild(label);
  }
}

function params() {
  const out = {};
  for (const el of $("#fields").querySelectorAll("[name]")) {
    const t = el.dataset.type;
    const v = el.value.trim();
    if (t === "boolean") out[el.name] = el.checked;
    else if (v === "") continue;
    else if (t === "enum" || t === "object" || t === "array") {
      try { out[el.name] = JSON.parse(v); } catch (e) { out[el.name] = v; }  // the service says why
    } else if ((t === "integer" || t === "number") && !isNaN(Number(v))) out[el.name] = Number(v);
    else out[el.name] = v;
  }
  return out;
}

function addSession(id) {
  const box = $("#runsession");
  if (!box || box.querySelector("option[value='" + CSS.escape(id) + "']")) return;
  const o = document.createElement("option");
  o.value = id; o.textContent = "session " + safe(id);
  box.appendChild(o);
}

// A session's workspace (a script's files stay there for its next run): asked for now
// when "a new session" is picked, then picked for the runs that follow.
async function runSession() {
  const box = $("#runsession");
  if (box.value !== "new") return box.value || null;
  const made = await api("/api/sessions", {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"});
  addSession(made.id);
  box.value = keptSession = made.id;
  return made.id;
}

async function showSessionFiles(id) {
  const s = await api("/api/sessions/" + encodeURIComponent(id)).catch(() => null);
  if (s) $("#sessionfiles").textContent = safe("session " + id + " holds: " + (s.files.map((f) => f.path).join(", ") || "nothing"));
}

function scriptArgs() {
  const text = $("#runargs").value;
  return text === "" ? [] : text.replace(/\n$/, "").split("\n");
}

// The chosen files as the API takes them: name -> the bytes, base64.
async function workspaceFiles() {
  const out = {};
  for (const f of $("#runfiles").files) {
    const bytes = new Uint8Array(await f.arrayBuffer());
    let bin = "";
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    out[f.name] = btoa(bin);
  }
  return out;
}

function runState(status, fraction, message) {
  $("#runstatus").textContent = status;
  $("#runstatus").className = status.split(" ")[0];
  if (fraction !== null) bar($("#runbar"), fraction);
  if (message !== null) $("#runmsg").textContent = safe(message);
}

// A state with its attempt when it is not the first ("running · attempt 2"): a retry
// showed as "running" throughout, its bar jumping back to 0.
function attemptState(status, attempt) {
  if (attempt > 1) run.attempt = attempt;
  return run.attempt > 1 && !TERMINAL.includes(status) ? status + " · attempt " + run.attempt : status;
}

function runEvent(msg) {
  if (msg.type === "progress") runState(attemptState("running", msg.attempt), msg.fraction || 0, msg.message || "");
  else if (msg.type === "status" && msg.status === "retrying") {
    runState(attemptState("retrying", msg.attempt), 0, "its attempt failed: it is tried again");
  } else if (msg.type === "status" && !TERMINAL.includes(msg.status)) runState(attemptState(msg.status, msg.attempt), null, null);
  else if (msg.type === "complete") finish(run.id);
}

// The run's end, with its result, asked for once (the WebSocket's complete message
// carries none); poll() asks again if this fails.
async function finish(id) {
  if (!run || run.id !== id || run.done || run.finishing) return;
  run.finishing = true;
  try {
    const t = await api("/api/executions/" + id);
    if (TERMINAL.includes(t.status)) showResult(t.result, t.status);
  } catch (e) { /* poll() tries again */ } finally { if (run && run.id === id) run.finishing = false; }
}

function showResult(result, status) {
  if (!run || run.done) return;
  run.done = true;
  runState(status, status === "succeeded" ? 1 : null, null);
  $("#runcancel").hidden = true;
  $("#runnote").textContent = "";
  if (run.session) showSessionFiles(run.session);
  if (!result) return;
  $("#runresult").textContent = resultText(result, !!run.script);
  if (result.error) $("#runerror").textContent = safe(result.error.message);
  artifactList($("#runartifacts"), result.artifacts, $("#runerror"));
}

// Characters of a result shown at most: the page stays responsive with a huge one, and
// says where the whole of it is.
const SHOWN = 1000000;

// A result's output (or error) as text; a script's (``streams``: its exit code, then what
// it printed) as a terminal would show it.
function resultText(result, streams) {
  const s = result.error ? result.error.details : result.output;
  let text;
  if (streams && s && typeof s === "object" && ("stdout" in s || "stderr" in s)) {
    const parts = "exit_code" in s ? ["exit code " + s.exit_code] : [];
    for (const k of ["stdout", "stderr"]) if (s[k]) parts.push("— " + k + " —\n" + s[k]);
    text = parts.join("\n");
  } else {
    text = JSON.stringify(result.error ? result.error : result.output, null, 2);
  }
  if (text === undefined) text = "";
  if (text.length > SHOWN) {
    text = text.slice(0, SHOWN) + "\n… (" + text.length + " characters; the whole result: GET /api/executions/" + result.task_id + ")";
  }
  return safe(text);
}

// A result's artifacts as download links in ``list`` (a failed download said in ``errorEl``).
function artifactList(list, artifacts, errorEl) {
  list.replaceChildren();
  for (const a of artifacts || []) {
    const li = document.createElement("li");
    const link = document.createElement("a");
    link.href = "/api/artifacts/" + encodeURIComponent(a.id);
    link.textContent = safe(a.name);
    link.onclick = (ev) => { ev.preventDefault(); download(link.href, a.name, errorEl); };
    li.append(link, safe(" (" + a.mime + ", " + a.size + " bytes)"));
    list.appendChild(li);
  }
}

// An artifact needs the key, which a plain link cannot send: fetch it, then save the bytes.
async function download(href, name, errorEl) {
  try {
    const res = await fetch(href, {headers: {"X-API-Key": key}});
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => ({})));
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url; a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (e) { errorEl.textContent = safe(e.message); }
}

async function poll(id) {
  // The WebSocket brings progress; this brings the end even if the socket is down (and
  // the state while it is). It stops when the key is refused (keyRefused says so) or the
  // task is not this key's.
  while (run && run.id === id && !run.done && !refused) {
    await new Promise((r) => setTimeout(r, service === "down" ? 3000 : 1000));
    if (!run || run.id !== id || run.done || refused) return;
    let t = null;
    try { t = await api("/api/executions/" + id); } catch (e) {
      if (e.status === 404) {
        run.done = true;
        runState("unknown", null, "this key may not read the task (" + e.message + ")");
        return;
      }
      if (e.status === 0) runAside("the service is unreachable: this run's state shows once it is back");
      continue;
    }
    if (TERMINAL.includes(t.status)) showResult(t.result, t.status);
    else if (!ws) {
      runState(attemptState(t.status, t.attempts), null, null);
      if (service !== "draining") runAside("");
    }
  }
}

async function submit(ev) {
  ev.preventDefault();
  run = null;
  $("#runcancel").hidden = true;
  for (const el of $("#fields").querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const id of ["#runerror", "#runresult", "#runmsg", "#sessionfiles", "#runid", "#runnote"]) $(id).textContent = "";
  $("#runartifacts").replaceChildren();
  runState("submitting", 0, null);
  try {
    await formReady;
    const skill = encodeURIComponent($("#runskill").value);
    const script = $("#runwhat").value;
    const session = script ? await runSession() : null;
    const [path, body] = script
      ? ["/scripts", {script: script, args: scriptArgs(), files: await workspaceFiles(), session: session}]
      : ["/execute", {parameters: params()}];
    const data = await api("/api/skills/" + skill + path, {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(Object.assign(body, {wait: false}))});
    run = {id: data.task_id, done: false, session: session, script: script, attempt: 1};
    $("#runid").textContent = run.id;
    $("#runcancel").hidden = false;
    runState(data.status, null, null);
    follow(run.id);
    poll(run.id);
  } catch (e) {
    runState(e.status === 401 || e.status === 403 ? "refused" : e.status === 422 ? "invalid" : "error", 0, null);
    $("#runerror").textContent = safe(e.message);
    const bad = e.field && $("#fields").querySelector("[name='" + CSS.escape(e.field) + "']");
    if (bad) bad.setAttribute("aria-invalid", "true");
  }
}

$("#runcancel").onclick = async () => {
  if (!run || run.done) return;
  try { await api("/api/executions/" + run.id, {method: "DELETE"}); } catch (e) {
    $("#runerror").textContent = safe(e.message);
  }
};
$("#runskill").onchange = form;
$("#runform").onsubmit = submit;
