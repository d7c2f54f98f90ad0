// skillexec dashboard: the audit log (GET /api/audit), for a key whose role may read it
// (auditor, admin): newest first, older pages through its cursor. Uses app.js's helpers.
"use strict";

const auditView = {cursor: null, back: [], next: null};

async function audit() {
  const q = new URLSearchParams({limit: "50", since: "all"});
  if (auditView.cursor) q.set("cursor", String(auditView.cursor));
  const data = await api("/api/audit?" + q);
  $("#auditpanel").hidden = false;
  auditView.next = data.next_cursor;
  $("#auditolder").disabled = !auditView.next;
  $("#auditnewer").disabled = !auditView.cursor;
  const recs = data.records || [];
  $("#auditinfo").textContent = "(" + (auditView.cursor ? "page " + (auditView.back.length + 1) + ", " : "newest ") + recs.length + ")";
  fill("#audit", recs, (row, r) => {
    cell(row, when(r.ts / 1e6));
    cell(row, r.principal || "(no key)", "id");
    cell(row, r.action);
    cell(row, r.target, "id");
    cell(row, r.outcome, ["ok", "succeeded"].includes(r.outcome) ? "" : "failed");
    cell(row, r.details && Object.keys(r.details).length ? JSON.stringify(r.details) : "", "msg");
  });
}

function resetAudit() {
  Object.assign(auditView, {cursor: null, back: [], next: null});
  $("#auditpanel").hidden = true;
}

function auditPage(older) {
  if (older && auditView.next) { auditView.back.push(auditView.cursor); auditView.cursor = auditView.next; }
  else if (!older && auditView.cursor) auditView.cursor = auditView.back.pop() || null;
  audit().catch((e) => notice(e.message));
}

$("#auditolder").onclick = () => auditPage(true);
$("#auditnewer").onclick = () => auditPage(false);
