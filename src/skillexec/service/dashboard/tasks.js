// skillexec dashboard: the tasks table (filters, pages through the API's cursor) and one
// task's view (its error, output, attempts and artifacts; cancel where the key may).
// Uses app.js's helpers (api, cell, fill, safe, when, bar, ...): classic scripts share one
// global scope.
"use strict";

const PAGE = 30;
// What the table shows: its filters and its page (cursor: the page's, null for the newest;
// back: the cursors of the pages before it, for "Newer").
const view = {status: "", skill: "", cursor: null, back: [], next: null};
let detailId = "";            // the task open below the table ("" none)
let detailSeq = 0;            // answers for a task no longer open are dropped

async function tasks() {
  // Their summaries: the table shows no output, and the newest 30 results could be
  // hundreds of megabytes, asked again every 3 s.
  const q = new URLSearchParams({limit: String(PAGE), fields: "summary"});
  if (view.status) q.set("status", view.status);
  if (view.skill) q.set("skill_id", view.skill);
  if (view.cursor) q.set("cursor", view.cursor);
  const data = await api("/api/executions?" + q);
  view.next = data.next_cursor;
  const which = [view.status, view.skill].filter(Boolean).join(", ");
  $("#taskcount").textContent = "(" + (view.cursor ? "page " + (view.back.length + 1) + ", " + data.items.length + " older"
    : "newest " + data.items.length) + (which ? " · " + which : "") + ")";
  $("#taskolder").disabled = !view.next;
  $("#tasknewer").disabled = !view.cursor;
  fill("#tasks", data.items, drawTask);
  if (!data.items.length) {
    fill("#tasks", [which ? "no task matches" : "no task yet"], (row, text) => { cell(row, text, "msg").colSpan = 7; });
  }
}

function drawTask(row, t) {
  row.dataset.task = t.task_id;
  row.className = "task";
  row.tabIndex = 0;
  row.title = "open this task";
  // The whole id (the table showed its last 10 digits, which no command takes).
  cell(row, t.task_id, "tid");
  cell(row, t.skill_id, "id");
  cell(row, t.status, t.status);
  progressCell(row.insertCell(), t.task_id, t.status);
  cell(row, t.attempts);
  cell(row, when(t.created_at));
  cell(row, typeof t.wall_ms === "number" ? Math.round(t.wall_ms) : "");
  if (["running", "queued", "retrying", "pending"].includes(t.status)) follow(t.task_id);
}

function progressCell(td, id, status) {
  td.replaceChildren();
  const p = progress.get(id);
  if (!p || TERMINAL.includes(status)) return;
  const b = document.createElement("span");
  b.className = "bar";
  b.appendChild(document.createElement("span"));
  bar(b, p.fraction);
  td.append(b, " " + safe(p.message));
}

// A WebSocket message about a task in the table shows in its row at once: the table was
// only as live as its 3-s refresh, and a finished task said "running" until then.
let tasksTimer = null;
function liveRow(msg) {
  if (!["status", "progress", "complete"].includes(msg.type)) return;
  const id = String(msg.task_id || "");
  const row = id && $("#tasks tbody").querySelector("tr[data-task='" + CSS.escape(id) + "']");
  if (row) {
    const status = msg.status || (msg.type === "progress" ? "running" : row.cells[2].textContent);
    row.cells[2].textContent = safe(status);
    row.cells[2].className = status;
    if (msg.attempt > Number(row.cells[4].textContent)) row.cells[4].textContent = msg.attempt;
    progressCell(row.cells[3], id, status);
  }
  if (msg.type !== "complete") return;
  if (row) {  // its wall time, from the list's summary, soon after (one ask for a burst)
    clearTimeout(tasksTimer);
    tasksTimer = setTimeout(() => tasks().catch(() => {}), 500);
  }
  if (detailId === id) openTask(id);
}

// A row opens its task; a click that ends a text selection (copying the id) does not.
function rowClicked(ev) {
  const row = ev.target.closest("tr[data-task]");
  if (!row || String(window.getSelection())) return;
  openTask(row.dataset.task);
}

function skillFilter(ids) {
  const box = $("#fskill");
  const have = [...box.options].map((o) => o.value).slice(1).join("\n");
  if (have === ids.join("\n")) return;
  const picked = box.value;
  box.replaceChildren(new Option("any skill", ""));
  for (const id of ids) box.appendChild(new Option(safe(id), id));
  box.value = ids.includes(picked) ? picked : "";
}

function resetTasks() {
  Object.assign(view, {cursor: null, back: [], next: null});
  closeTask();
}

async function openTask(id) {
  detailId = id;
  const seq = ++detailSeq;
  const panel = $("#detail");
  panel.hidden = false;
  $("#dtid").textContent = id;
  for (const sel of ["#dmeta", "#dnote", "#derror", "#doutput"]) $(sel).textContent = "";
  $("#doutput").hidden = true;
  $("#dattempts").hidden = true;
  $("#dartifacts").replaceChildren();
  $("#dcancel").hidden = true;
  panel.scrollIntoView({block: "nearest"});
  let t;
  try { t = await api("/api/executions/" + encodeURIComponent(id)); } catch (e) {
    if (seq !== detailSeq) return;
    // A viewer sees every task's state in the table, not what it computed (404 here).
    $("#dnote").textContent = safe(e.status === 404
      ? "This key may read this task's state only (the table's row), not its result: " + e.message
      : e.message);
    return;
  }
  if (seq !== detailSeq) return;
  drawTask1(t);
  if (t.result && t.attempts > 0) attempts(id, seq);
  if (!TERMINAL.includes(t.status)) follow(id);
}

function drawTask1(t) {
  const r = t.result;
  const parts = ["skill " + t.skill_id + " " + t.skill_version, "status " + t.status,
    "attempts " + t.attempts, "priority " + t.priority, "by " + t.principal,
    "created " + when(t.created_at)];
  if (t.started_at) parts.push("started " + when(t.started_at));
  if (t.finished_at) parts.push("finished " + when(t.finished_at));
  if (r && typeof r.metrics.wall_ms === "number") parts.push("wall " + Math.round(r.metrics.wall_ms) + " ms");
  if (r && r.cached) parts.push("cached");
  $("#dmeta").textContent = safe(parts.join(" · "));
  $("#dmeta").className = t.status;
  // Cancel: a task not ended, the key's own or a role that may cancel any.
  $("#dcancel").hidden = TERMINAL.includes(t.status) ||
    !(open || may("cancel_any") || (me && me.principal === t.principal && may("run")));
  if (!r) {
    $("#dnote").textContent = TERMINAL.includes(t.status) ? "" : "no result yet";
    return;
  }
  if (r.error) $("#derror").textContent = safe(r.error.code + ": " + r.error.message);
  $("#doutput").textContent = resultText(r, true);
  $("#doutput").hidden = false;
  artifactList($("#dartifacts"), r.artifacts, $("#derror"));
  if (["failed", "timed_out", "cancelled"].includes(t.status)) {
    $("#dnote").textContent = "to run it again: skillexec tasks replay " + t.task_id;
  }
}

async function attempts(id, seq) {
  let list;
  try { list = await api("/api/executions/" + encodeURIComponent(id) + "/attempts"); } catch (e) { return; }
  if (seq !== detailSeq || !list.length) return;
  $("#dattempts").hidden = false;
  fill("#dattempts", list, (row, a) => {
    cell(row, a.attempt);
    const ms = a.metrics && a.metrics.wall_ms;
    cell(row, typeof ms === "number" ? Math.round(ms) : "");
    cell(row, a.error ? a.error.code + ": " + a.error.message : "", "msg");
    cell(row, a.decision || "", "msg");
  });
}

function closeTask() {
  detailId = "";
  detailSeq++;
  $("#detail").hidden = true;
}

async function cancelTask() {
  const id = detailId;
  $("#dcancel").disabled = true;
  try {
    await api("/api/executions/" + encodeURIComponent(id), {method: "DELETE"});
    if (detailId === id) await openTask(id);
    $("#dnote").textContent = "cancelled";
  } catch (e) {
    if (detailId === id) $("#dnote").textContent = safe(e.message);
  } finally { $("#dcancel").disabled = false; }
  tasks().catch(() => {});
}

async function copyId() {
  const id = $("#dtid").textContent;
  try {
    await navigator.clipboard.writeText(id);
    $("#dnote").textContent = "id copied";
  } catch (e) {  // no clipboard (an http page not on localhost): select it to copy
    window.getSelection().selectAllChildren($("#dtid"));
    $("#dnote").textContent = "id selected: copy it with Ctrl+C";
  }
}

function filterChanged() {
  view.status = $("#fstatus").value;
  view.skill = $("#fskill").value;
  Object.assign(view, {cursor: null, back: [], next: null});
  tasks().catch((e) => notice(e.message));
}

function page(older) {
  if (older && view.next) { view.back.push(view.cursor); view.cursor = view.next; }
  else if (!older && view.cursor) view.cursor = view.back.pop() || null;
  tasks().catch((e) => notice(e.message));
}

$("#tasks tbody").onclick = rowClicked;
$("#tasks tbody").onkeydown = (ev) => { if (ev.key === "Enter") rowClicked(ev); };
$("#fstatus").onchange = filterChanged;
$("#fskill").onchange = filterChanged;
$("#taskolder").onclick = () => page(true);
$("#tasknewer").onclick = () => page(false);
$("#dclose").onclick = closeTask;
$("#dcancel").onclick = cancelTask;
$("#dcopy").onclick = copyId;
