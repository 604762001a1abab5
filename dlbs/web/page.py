"""The progress page: one self-contained HTML document with its style and script inline.

The script fetches ``progress.json`` (the progress file of ``experimenter run
--progress-file``, see ``dlbs/runner/progress.py`` for its keys) every second and renders it.
Every value from the file goes into the page with ``textContent`` (or ``title`` through
``setAttribute``), never as HTML: model names and log paths come from users. The server sends
a Content-Security-Policy that allows exactly this style and this script (by their sha256),
so nothing injected could run even if that rule were broken.
"""
from __future__ import annotations

import base64
import hashlib

STYLE = """
:root { --ok: #1a7f37; --bad: #cf222e; --skip: #6e7781; --info: #0969da; --warn: #9a6700;
        --line: #d0d7de; --soft: #f6f8fa; --text: #1f2328; --muted: #59636e; }
* { box-sizing: border-box; }
body { margin: 0; padding: 18px 26px; color: var(--text); background: #fff;
       font: 14px/1.4 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
header { display: flex; align-items: center; gap: 14px; }
h1 { font-size: 20px; margin: 0; font-weight: 600; }
h2 { font-size: 14px; margin: 16px 0 6px; color: var(--muted); font-weight: 600;
     text-transform: uppercase; letter-spacing: .04em; }
.badge { padding: 2px 10px; border-radius: 12px; color: #fff; font-weight: 600;
         background: var(--skip); }
.badge[data-state="running"] { background: var(--info); }
.badge[data-state="finished"] { background: var(--ok); }
.badge[data-state="interrupted"] { background: var(--warn); }
.badge[data-state="refused"], .badge[data-state="error"] { background: var(--bad); }
#note { color: var(--muted); margin: 4px 0 12px; }
.bar { display: flex; height: 18px; border-radius: 9px; overflow: hidden;
       background: #eaeef2; border: 1px solid var(--line); }
.bar span { height: 100%; width: 0; transition: width .4s; }
#bar-done { background: var(--ok); } #bar-failed { background: var(--bad); }
#bar-skipped { background: #afb8c1; } #bar-other { background: var(--info); }
#bar-text { margin: 4px 0 0; color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(6, 1fr); gap: 10px; margin-top: 12px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px;
        background: var(--soft); }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
#n-done { color: var(--ok); } #n-failed { color: var(--bad); } #n-skipped { color: var(--skip); }
#current { border: 1px solid var(--line); border-left: 4px solid var(--info);
           border-radius: 6px; padding: 8px 12px; }
#current[data-running="no"] { border-left-color: var(--line); color: var(--muted); }
#cur-model { font-weight: 600; font-size: 16px; }
.path { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px;
        color: var(--muted); word-break: break-all; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
         vertical-align: baseline; overflow-wrap: anywhere; }
.w5 { width: 5%; } .w10 { width: 10%; } .w11 { width: 11%; } .w25 { width: 25%; }
.w39 { width: 39%; }
td.path { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
th { background: var(--soft); font-size: 12px; color: var(--muted); font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; }
.status { font-weight: 600; }
.status[data-kind="ok"] { color: var(--ok); }
.status[data-kind="bad"] { color: var(--bad); }
.status[data-kind="skip"] { color: var(--skip); }
.status[data-kind="info"] { color: var(--info); }
td.empty { color: var(--muted); font-style: italic; }
"""

SCRIPT = """
"use strict";
const $ = (id) => document.getElementById(id);
const put = (id, value) => { $(id).textContent = value === null || value === undefined ? "" : String(value); };
const num = (v) => (typeof v === "number" && isFinite(v) ? v : 0);
const NOTES = {
  finished: "The sweep has finished; this is its final state.",
  interrupted: "The sweep was interrupted (Ctrl-C or a signal); run the same plan again to resume it.",
  refused: "The sweep was refused: another runner is using its log folder.",
  error: "The runner stopped on an error (its message is on the runner's terminal); run the same plan again to resume.",
};

function hms(s) {
  if (typeof s !== "number" || !isFinite(s)) return "?";
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h + ":" + String(m).padStart(2, "0") + ":" + String(sec).padStart(2, "0");
}
function clock(iso) {
  const d = new Date(iso);
  return iso && !isNaN(d) ? d.toLocaleTimeString([], {hour12: false}) : "";
}
function basename(path) { return String(path).split(/[\\\\/]/).pop(); }
function kind(status) {
  if (status === "ok") return "ok";
  if (status === "skipped") return "skip";
  if (status === "simulated" || status === "submitted") return "info";
  return "bad";
}
function setState(state, label) {
  const badge = $("state");
  badge.setAttribute("data-state", state);
  badge.textContent = label;
}
function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function render(p, age) {
  const state = typeof p.state === "string" ? p.state : "unknown";
  const running = state === "running";
  setState(state, state);
  const live = running ? age : 0;  // the file changes only on events: count on between them
  const total = num(p.total), done = num(p.done), failed = num(p.failed);
  const skipped = num(p.skipped), other = num(p.simulated) + num(p.submitted) + num(p.in_flight);
  const left = typeof p.left === "number" ? p.left : total - done - failed - skipped - other;
  const dealt = total - left;
  for (const [id, n] of [["bar-done", done], ["bar-failed", failed], ["bar-skipped", skipped],
                         ["bar-other", other]]) {
    $(id).style.width = (total > 0 ? (100 * n) / total : 0) + "%";
  }
  const bar = $("bar");
  bar.setAttribute("aria-valuemax", String(total));
  bar.setAttribute("aria-valuenow", String(dealt));
  put("bar-text", dealt + " of " + total + " experiments dealt with (" +
      (total > 0 ? Math.round((100 * dealt) / total) : 0) + "%)" +
      (num(p.simulated) ? ", " + p.simulated + " simulated" : "") +
      (num(p.submitted) ? ", " + p.submitted + " submitted to Slurm" : ""));
  put("n-done", done); put("n-failed", failed); put("n-skipped", skipped); put("n-left", left);
  put("elapsed", hms(num(p.elapsed_s) + live));
  put("eta", running ? hms(typeof p.eta_s === "number" ? Math.max(0, p.eta_s - live) : null)
                     : (state === "finished" ? hms(0) : "-"));
  let note = NOTES[state] || (running ? "" : "state: " + state);
  if (running) note = "Updated " + (age < 60 ? Math.round(age) + " s" : hms(age)) + " ago.";
  if (p.started_at) note += " Started " + clock(p.started_at) + ".";
  put("note", note.trim());
  document.title = dealt + "/" + total + " " + state + " - dlbs sweep progress";

  // the model and every parameter that varies over the sweep (threads 1 and 2 differ)
  const named = (e, none) => {
    const model = e.model === null || e.model === undefined ? none : String(e.model);
    return e.settings ? model + " [" + String(e.settings) + "]" : model;
  };
  const cur = p.current && typeof p.current === "object" ? p.current : null;
  const box = $("current");
  box.setAttribute("data-running", cur && running ? "yes" : "no");
  if (cur && running) {
    put("cur-index", "#" + (num(cur.index) + 1) + " of " + total);
    put("cur-model", named(cur, "?"));
    put("cur-log", cur.log_file || "");
  } else {
    put("cur-index", "");
    put("cur-model", running ? "between experiments" : "nothing is running");
    put("cur-log", "");
  }

  const body = $("history-rows");
  body.replaceChildren();
  const history = Array.isArray(p.history) ? p.history.slice().reverse() : [];
  for (const h of history) {
    if (!h || typeof h !== "object") continue;
    const row = document.createElement("tr");
    row.setAttribute("data-status", String(h.status));
    cell(row, typeof h.index === "number" ? h.index + 1 : "", "num");
    cell(row, named(h, "-"));
    const st = cell(row, h.status, "status");
    st.setAttribute("data-kind", kind(h.status));
    cell(row, typeof h.duration_s === "number" ? hms(h.duration_s) : "-", "num");
    cell(row, clock(h.ended_at), "num");
    const log = cell(row, h.log_file ? basename(h.log_file) : "-", "path");
    if (h.log_file) log.setAttribute("title", String(h.log_file));
    body.appendChild(row);
  }
  if (!body.children.length) {
    const row = document.createElement("tr");
    const td = cell(row, "nothing has ended yet", "empty");
    td.colSpan = 6;
    body.appendChild(row);
  }
}

function trouble(state, label, message) {
  setState(state, label);
  put("note", message);
  document.title = label + " - dlbs sweep progress";
}

async function poll() {
  try {
    const response = await fetch("progress.json", {cache: "no-store"});
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (response.ok && body && typeof body === "object") {
      render(body, Number(response.headers.get("X-Progress-Age")) || 0);
    } else if (response.status === 404) {
      trouble("waiting", "waiting for the sweep to start",
              (body && body.error) || "no progress file yet");
    } else {
      trouble("error", "error", (body && body.error) || "HTTP " + response.status);
    }
  } catch (err) {
    trouble("unreachable", "server unreachable",
            "Cannot reach the progress server (" + err.message + "); retrying every second.");
  }
  setTimeout(poll, 1000);
}
poll();
"""

_BODY = """
<header>
  <h1>dlbs sweep progress</h1>
  <span id="state" class="badge" data-state="loading">loading</span>
</header>
<p id="note">Loading the progress file&hellip;</p>
<div id="bar" class="bar" role="progressbar" aria-valuemin="0" aria-valuenow="0">
  <span id="bar-done"></span><span id="bar-failed"></span><span id="bar-skipped"></span><span id="bar-other"></span>
</div>
<p id="bar-text"></p>
<div class="cards">
  <div class="card"><div class="label">done</div><div class="value" id="n-done">-</div></div>
  <div class="card"><div class="label">failed</div><div class="value" id="n-failed">-</div></div>
  <div class="card"><div class="label">skipped</div><div class="value" id="n-skipped">-</div></div>
  <div class="card"><div class="label">left</div><div class="value" id="n-left">-</div></div>
  <div class="card"><div class="label">elapsed</div><div class="value" id="elapsed">-</div></div>
  <div class="card"><div class="label">estimated time left</div><div class="value" id="eta">-</div></div>
</div>
<h2>Running now</h2>
<div id="current" data-running="no">
  <span id="cur-index" class="path"></span>
  <div id="cur-model">-</div>
  <div id="cur-log" class="path"></div>
</div>
<h2>Recent history (newest first)</h2>
<table>
  <colgroup><col class="w5"><col class="w25"><col class="w11"><col class="w10"><col class="w10"><col class="w39"></colgroup>
  <thead><tr><th>#</th><th>model [settings]</th><th>status</th><th>duration</th><th>ended</th><th>log file</th></tr></thead>
  <tbody id="history-rows"></tbody>
</table>
<noscript><p>This page needs JavaScript; the raw data is at <a href="progress.json">progress.json</a>.</p></noscript>
"""

PAGE = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>dlbs sweep progress</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>{_BODY}<script>{SCRIPT}</script>\n"
        "</body>\n</html>\n")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


#: Only this page's own style and script may run; it may fetch only from its own server.
CONTENT_SECURITY_POLICY = (f"default-src 'none'; script-src {_sha256(SCRIPT)}; "
                           f"style-src {_sha256(STYLE)}; connect-src 'self'; "
                           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
