// mock-wiro dashboard: vanilla JS, no build step, no dependency.
// Every read and every action is a /_mock JSON call (relative to this page), with the
// admin token (when the fake has one) in the X-Admin-Token header; live updates come
// from one server-sent-events stream (dashboard/events), read with fetch() so that it
// can carry the header too.
"use strict";

const TOKEN_KEY = "mockWiroAdminToken";
const PAGE_SIZE = 50;
const JOURNAL_ROWS = 500;

const S = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  info: null,
  view: "tasks",
  project: "",
  status: "",
  page: 0,
  total: 0,
  rows: new Map(), // id -> row, the page shown
  selected: null,
  journalSeq: 0, // the journal's newest seq (from the feed)
  journalShown: 0, // the newest seq shown in the journal view
  clock: null, // {mode, speed, now, at: performance.now()}
  timers: {},
  journalGeneration: 0,
  journalFresh: false,
  pending: new Set(), // arrays collecting feed rows while a page of tasks is fetched
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "style") node.style.cssText = v; // CSSOM: allowed by the page's CSP
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// ------------------------------------------------------------------ the API
class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function headers(extra) {
  const h = { Accept: "application/json", ...(extra || {}) };
  if (S.token) h["X-Admin-Token"] = S.token;
  return h;
}

async function api(method, path, body) {
  const extra = method === "GET" ? {} : { "X-Mock-Wiro-Client": "dashboard" };
  const opts = { method, cache: "no-store", credentials: "same-origin" };
  if (body !== undefined) {
    extra["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  opts.headers = headers(extra);
  const response = await fetch(path, opts);
  let data = {};
  try { data = await response.json(); } catch (e) { data = {}; }
  if (response.status === 401) {
    showTokenGate(data.error || "admin token required");
    throw new ApiError(401, data.error || "admin token required");
  }
  if (!response.ok) throw new ApiError(response.status, data.error || `HTTP ${response.status}`);
  return data;
}

function debounce(name, ms, fn) {
  clearTimeout(S.timers[name]);
  S.timers[name] = setTimeout(fn, ms);
}

function showError(id, err) {
  const node = $(id);
  if (node) node.textContent = err ? (err.message || String(err)) : "";
}

// ------------------------------------------------------------------ the token gate
function showTokenGate(message) {
  $("token-gate").hidden = false;
  $("token-error").textContent = S.token ? message : "";
  $("token-input").focus();
}

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  S.token = $("token-input").value.trim();
  sessionStorage.setItem(TOKEN_KEY, S.token);
  $("token-input").value = "";
  start();
});

// ------------------------------------------------------------------ formatting
function fmtTime(t) {
  if (t === null || t === undefined || t === "") return "";
  const d = new Date(Number(t) * 1000);
  if (isNaN(d)) return String(t);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function fmtSeconds(s) {
  const n = Number(s);
  if (!isFinite(n)) return "";
  return n < 100 ? `${n.toFixed(1)} s` : `${Math.round(n)} s`;
}

function shortStage(stage) { return String(stage || "").replace(/^task_/, ""); }

// ------------------------------------------------------------------ views
function showView(name) {
  S.view = name;
  for (const b of document.querySelectorAll("#tabs button")) {
    b.classList.toggle("active", b.dataset.view === name);
  }
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${name}`;
  refreshView();
}

function refreshView() {
  const view = S.view;
  const run = {
    tasks: loadTasks,
    timeline: loadTimeline,
    journal: () => loadJournal(true),
    projects: loadProjects,
    clock: loadClock,
    chaos: loadChaos,
  }[view];
  if (run) run().catch((e) => console.warn(view, e));
}

for (const b of document.querySelectorAll("#tabs button")) {
  b.addEventListener("click", () => showView(b.dataset.view));
}

// ------------------------------------------------------------------ tasks
function matchesFilter(row) {
  if (S.project && row.project !== S.project) return false;
  const s = S.status;
  if (!s) return true;
  const terminal = row.status === "task_postprocess_end" || row.status === "task_cancel";
  if (s === "active") return !terminal;
  if (s === "terminal") return terminal;
  if (s.startsWith("task_")) return row.status === s;
  return row.outcome === s;
}

function rowNode(row) {
  const tr = el("tr", { "data-id": row.id, class: row.id === S.selected ? "selected" : "" });
  fillRow(tr, row);
  tr.addEventListener("click", () => selectTask(row.id));
  return tr;
}

function fillRow(tr, row) {
  tr.dataset.status = row.status;
  tr.dataset.outcome = row.outcome;
  tr.replaceChildren(
    el("td", { class: "mono" }, row.id),
    el("td", {}, row.project),
    el("td", {}, el("span", { class: `status ${row.outcome}`, text: shortStage(row.status) }),
      row.held_at ? el("small", {}, ` held before ${shortStage(row.held_at)}`) : null),
    el("td", {}, el("progress", { max: 100, value: row.progress }), ` ${row.progress}%`),
    el("td", {}, fmtTime(row.created)),
    el("td", {}, fmtSeconds(row.elapsed)),
    el("td", {}, `$${row.cost}`),
  );
}

function renderTasks() {
  const body = $("tasks-body");
  body.replaceChildren(...[...S.rows.values()].map(rowNode));
  const pages = Math.max(1, Math.ceil(S.total / PAGE_SIZE));
  $("task-count").textContent = `${S.total} task${S.total === 1 ? "" : "s"}`;
  $("page-label").textContent = `page ${S.page + 1} of ${pages}`;
  $("page-prev").disabled = S.page === 0;
  $("page-next").disabled = S.page + 1 >= pages;
}

async function loadTasks() {
  const q = new URLSearchParams({ page: S.page, size: PAGE_SIZE });
  if (S.project) q.set("project", S.project);
  if (S.status) q.set("status", S.status);
  // rows the feed sends while this page is fetched are applied again on top of it:
  // the page may have been read before they changed
  const pending = [];
  S.pending.add(pending);
  let data;
  try {
    data = await api("GET", `dashboard/tasks?${q}`);
  } finally {
    S.pending.delete(pending);
  }
  S.total = data.total;
  S.rows = new Map(data.rows.map((r) => [r.id, r]));
  if (pending.length) {
    renderTasks();
    onTaskRows(pending);
  }
  const select = $("filter-project");
  const have = new Set([...select.options].map((o) => o.value));
  for (const p of data.projects) if (!have.has(p)) select.append(el("option", { value: p }, p));
  renderTasks();
}

function onTaskRows(rows) {
  for (const pending of S.pending) pending.push(...rows);
  let added = false;
  for (const row of rows) {
    const tr = document.querySelector(`#tasks-body tr[data-id="${CSS.escape(row.id)}"]`);
    if (S.rows.has(row.id)) {
      S.rows.set(row.id, row);
      if (tr) fillRow(tr, row);
    } else if (S.page === 0 && matchesFilter(row) && isNewer(row)) {
      // a new task: on top of the first page, without a reload
      S.rows = new Map([[row.id, row], ...S.rows]);
      while (S.rows.size > PAGE_SIZE) S.rows.delete([...S.rows.keys()].pop());
      S.total += 1;
      added = true;
      const select = $("filter-project");
      if (![...select.options].some((o) => o.value === row.project)) {
        select.append(el("option", { value: row.project }, row.project));
      }
    }
    if (row.id === S.selected) debounce("detail", 50, () => loadDetail().catch(() => {}));
  }
  if (added) renderTasks();
  if (S.view === "timeline") debounce("timeline", 300, () => loadTimeline().catch(() => {}));
}

function isNewer(row) {
  const first = S.rows.keys().next().value;
  return first === undefined || Number(row.id) > Number(first);
}

$("filter-project").addEventListener("change", (e) => { S.project = e.target.value; S.page = 0; loadTasks(); });
$("filter-status").addEventListener("change", (e) => { S.status = e.target.value; S.page = 0; loadTasks(); });
$("page-prev").addEventListener("click", () => { S.page = Math.max(0, S.page - 1); loadTasks(); });
$("page-next").addEventListener("click", () => { S.page += 1; loadTasks(); });

// ------------------------------------------------------------------ the detail pane
function selectTask(id) {
  S.selected = id;
  for (const tr of document.querySelectorAll("#tasks-body tr")) {
    tr.classList.toggle("selected", tr.dataset.id === id);
  }
  $("detail").hidden = false;
  $("detail-outputs").replaceChildren();
  showError("detail-error", null);
  loadDetail().catch((e) => showError("detail-error", e));
}

async function loadDetail() {
  const id = S.selected;
  if (!id) return;
  const [task, cb] = await Promise.all([
    api("GET", `tasks/${encodeURIComponent(id)}`),
    api("GET", `callbacks?task=${encodeURIComponent(id)}`),
  ]);
  if (id !== S.selected) return;
  $("detail-id").textContent = task.id;
  const status = $("detail-status");
  status.textContent = task.status;
  status.dataset.status = task.status;
  renderTimeline($("detail-timeline"), task.events, { heldAt: S.rows.get(id)?.held_at, pexit: task.pexit, until: runningUntil(task.status) });
  renderOutputs(task.outputs || []);
  renderCallbacks(cb.callbacks || []);
  $("detail-frames").replaceChildren(...task.events.map((e) => el("li", { "data-type": e.type },
    el("span", { class: "mono" }, fmtTime(e.time)), " ", el("b", {}, e.type), " ",
    el("code", {}, typeof e.message === "string" ? e.message : JSON.stringify(e.message)))));
  const fields = Object.entries(task).filter(([k]) => k !== "events");
  $("detail-fields").replaceChildren(...fields.map(([k, v]) => el("tr", { "data-field": k },
    el("th", {}, k), el("td", {}, el("code", {}, typeof v === "string" ? v : JSON.stringify(v))))));
}

function renderOutputs(outputs) {
  const box = $("detail-outputs");
  const shown = new Set([...box.querySelectorAll("video")].map((v) => v.getAttribute("src")));
  const wanted = outputs.map((o) => o.url);
  if (wanted.length === shown.size && wanted.every((u) => shown.has(u))) return; // keep playing
  box.replaceChildren(...(outputs.length ? outputs.map((o) => el("figure", {},
    o.contenttype && o.contenttype.startsWith("video/")
      ? el("video", { src: o.url, controls: true, preload: "auto", muted: true })
      : el("a", { href: o.url }, o.name),
    el("figcaption", {}, `${o.name} · ${o.contenttype} · ${o.size} bytes `, el("a", { href: o.url, target: "_blank", rel: "noopener" }, "open"))))
    : [el("p", { class: "note" }, "none yet")]));
}

function renderCallbacks(deliveries) {
  const box = $("detail-callbacks");
  if (!deliveries.length) { box.replaceChildren(el("p", { class: "note" }, "no callbackUrl, or none sent yet")); return; }
  const rows = [];
  for (const d of deliveries) {
    for (const a of d.attempts || []) {
      rows.push(el("tr", {}, el("td", {}, a.number ?? ""), el("td", {}, fmtTime(a.time)),
        el("td", {}, a.status ?? ""), el("td", {}, a.error ?? (a.ok ? "ok" : ""))));
    }
  }
  box.replaceChildren(el("p", {}, `${deliveries[0].url || ""} — ${deliveries[0].state || deliveries[0].status || ""}`),
    el("table", { class: "grid" }, el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, "time"), el("th", {}, "status"), el("th", {}, "result"))),
      el("tbody", {}, ...rows)));
}

for (const b of document.querySelectorAll("#detail .actions button")) {
  b.addEventListener("click", () => taskAction(b.dataset.action));
}

async function taskAction(action) {
  const id = S.selected;
  const stage = $("action-stage").value;
  const body = action === "push" || action === "hold" ? { stage } : undefined;
  showError("detail-error", null);
  try {
    await api("POST", `tasks/${encodeURIComponent(id)}/${action}`, body);
    await loadDetail();
  } catch (e) { showError("detail-error", e); }
}

// ------------------------------------------------------------------ timelines
function segments(events) {
  // one segment per run of the same frame type, from its first frame to the next type's
  const segs = [];
  for (const e of events) {
    const last = segs[segs.length - 1];
    if (last && last.type === e.type) { last.count += 1; continue; }
    if (last) last.end = e.time;
    segs.push({ type: e.type, start: e.time, end: e.time, count: 1, message: e.message });
  }
  return segs;
}

function renderTimeline(box, events, opts) {
  const segs = segments(events || []);
  if (!segs.length) { box.replaceChildren(el("p", { class: "note" }, "no frames yet")); return; }
  const t0 = segs[0].start;
  const last = segs[segs.length - 1];
  if (opts.until && opts.until > last.end) last.end = opts.until; // a running task: up to now
  const t1 = Math.max(last.end, t0 + 1);
  const span = t1 - t0;
  const bars = segs.map((s, i) => {
    // an instant (a cancel, the end) still gets a visible bar, inside the track
    const width = Math.max(s.type === "task_cancel" ? 3 : 0.6, (100 * (s.end - s.start)) / span);
    const left = Math.min((100 * (s.start - t0)) / span, 100 - width);
    let kind = "stage";
    if (s.type === "task_cancel") kind = "cancel";
    else if (s.type.startsWith("task_error")) kind = "fail";
    return el("div", {
      class: `bar ${kind}`, "data-stage": s.type, "data-index": i, "data-start": s.start,
      style: `left:${left.toFixed(3)}%;width:${width.toFixed(3)}%`,
      title: `${s.type}${s.count > 1 ? ` ×${s.count}` : ""}: ${fmtTime(s.start)} → ${fmtSeconds(s.end - s.start)}`,
    }, el("span", {}, shortStage(s.type)));
  });
  const marks = [];
  if (opts.heldAt) marks.push(el("div", { class: "bar hold", "data-mark": "hold", style: "left:92%;width:8%", title: `held before ${opts.heldAt}` }, el("span", {}, `held: ${shortStage(opts.heldAt)}`)));
  if (opts.pexit && opts.pexit !== "0" && segs[segs.length - 1].type !== "task_cancel" && segs.some((s) => s.type === "task_postprocess_end")) {
    marks.push(el("div", { class: "bar fail", "data-mark": "failed", style: "left:99%;width:1%", title: `failed (pexit ${opts.pexit})` }, el("span", {}, "✗")));
  }
  box.replaceChildren(el("div", { class: "track" }, ...bars, ...marks),
    el("div", { class: "axis" }, el("span", {}, fmtTime(t0)), el("span", {}, `${fmtSeconds(span)} of fake time`)));
}

function runningUntil(status) {
  const terminal = status === "task_postprocess_end" || status === "task_cancel";
  return terminal ? null : clockNow();
}

async function loadTimeline() {
  const n = Number($("timeline-count").value);
  const data = await api("GET", `dashboard/tasks?size=${n}`);
  const tasks = await Promise.all(data.rows.map((r) => api("GET", `tasks/${encodeURIComponent(r.id)}`).then((t) => [r, t]).catch(() => null)));
  const rows = [];
  for (const item of tasks) {
    if (!item) continue;
    const [r, t] = item;
    const box = el("div", { class: "timeline" });
    renderTimeline(box, t.events, { heldAt: r.held_at, pexit: t.pexit, until: runningUntil(t.status) });
    rows.push(el("div", { class: "timeline-row", "data-id": r.id },
      el("button", { type: "button", class: "link", onclick: () => { showView("tasks"); selectTask(r.id); } }, `#${r.id}`),
      el("span", { class: `status ${r.outcome}` }, shortStage(r.status)), box));
  }
  $("timeline-rows").replaceChildren(...(rows.length ? rows : [el("p", { class: "note" }, "no tasks")]));
}
$("timeline-count").addEventListener("change", () => loadTimeline());

// ------------------------------------------------------------------ journal
function summary(e) {
  switch (e.kind) {
    case "request": return `${e.method} ${e.path} → ${e.status}${e.fault ? " (fault)" : ""}`;
    case "frame": return `${e.type || ""} → connection ${e.connection ?? ""} task ${e.task ?? ""}`;
    case "callback": return `task ${e.task ?? ""} attempt ${e.number ?? ""} → ${e.status ?? e.error ?? ""} (${e.state ?? ""})`;
    case "fault": return `${e.channel || "http"} fault ${e.rule || e.id || ""} ${e.action || ""}${e.task ? ` task ${e.task}` : ""}${e.path ? ` ${e.path}` : ""}`;
    case "scenario": return `scenario ${e.scenario} → task ${e.task}`;
    case "unmatched": return `no ${e.rules === "faults" ? "fault" : "scenario"} matched ${e.method || ""} ${e.path || (e.prompt !== undefined ? `prompt "${e.prompt}"` : "")} (${(e.candidates || []).length} armed)`;
    case "control": return `${e.method} ${e.path} → ${e.status} (${e.source})`;
    case "refused": return `${e.rule}: ${e.method} ${e.path}`;
    default: return e.message || e.path || e.rule || e.task || "";
  }
}

function journalRow(e) {
  const details = el("details", {}, el("summary", {}, summary(e)), el("pre", {}, JSON.stringify(e, null, 2)));
  return el("tr", { "data-seq": e.seq, "data-kind": e.kind }, el("td", { class: "mono" }, e.seq),
    el("td", {}, fmtTime(e.time)), el("td", {}, e.kind), el("td", {}, details));
}

async function loadJournal(fresh) {
  if (S.journalFresh) fresh = true; // a fresh read is on its way: this one replaces it
  const q = new URLSearchParams();
  const kind = $("journal-kind").value;
  const task = $("journal-task").value.trim();
  const path = $("journal-path").value.trim();
  if (kind) q.set("kind", kind);
  if (task) q.set("task", task);
  if (path) q.set("path", path);
  const since = fresh ? Math.max(0, S.journalSeq - 2000) : S.journalShown;
  q.set("since", since);
  const generation = ++S.journalGeneration;
  if (fresh) S.journalFresh = true;
  let data;
  try {
    data = await api("GET", `journal?${q}`);
  } finally {
    if (generation === S.journalGeneration) S.journalFresh = false;
  }
  if (generation !== S.journalGeneration) return; // a newer read (other filters) wins
  const body = $("journal-body");
  const rows = data.entries.slice(-JOURNAL_ROWS).reverse().map(journalRow);
  if (fresh) body.replaceChildren(...rows);
  else body.prepend(...rows);
  while (body.children.length > JOURNAL_ROWS) body.lastElementChild.remove();
  S.journalShown = data.last_seq;
  S.journalSeq = Math.max(S.journalSeq, data.last_seq);
  $("journal-count").textContent = `${body.children.length} shown, newest first (last seq ${data.last_seq})`;
}
for (const id of ["journal-kind", "journal-task", "journal-path"]) {
  for (const type of ["input", "change"]) {
    $(id).addEventListener(type, () => debounce("journal-filter", 150, () => loadJournal(true)));
  }
}

// ------------------------------------------------------------------ projects
async function loadProjects() {
  const data = await api("GET", "dashboard/projects");
  const t = data.thresholds;
  $("thresholds").textContent = `Run answers code 97 when the balance is under $${t.minimum_balance}; ` +
    `code 96 when a project already runs max(1, floor(balance × ${t.concurrency_rate})) tasks, ` +
    `up to $${t.unlimited_above} (no limit above).`;
  $("projects-body").replaceChildren(...data.projects.map((p) => {
    const form = el("form", { class: "inline" },
      el("input", { name: "balance", value: p.balance, size: 8, inputmode: "decimal" }),
      el("button", { type: "submit" }, "Set"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError("projects-error", null);
      try {
        await api("POST", `projects/${encodeURIComponent(p.api_key)}/balance`, { balance: form.balance.value });
        await loadProjects();
      } catch (e) { showError("projects-error", e); }
    });
    return el("tr", { "data-project": p.id, class: p.below_minimum ? "warn" : "" },
      el("td", { class: "mono" }, p.id), el("td", {}, p.name), el("td", { class: "mono" }, p.api_key),
      el("td", {}, p.auth),
      el("td", {}, `$${p.balance}`, p.below_minimum ? el("b", { class: "flag" }, " 97") : null),
      el("td", {}, p.concurrency_limit === null ? "unlimited" : String(p.concurrency_limit), p.at_limit ? el("b", { class: "flag" }, " 96") : null),
      el("td", {}, `${p.active} / ${p.tasks}`), el("td", {}, form));
  }));
}

// ------------------------------------------------------------------ clock
function setClock(c) {
  S.clock = { ...c, at: performance.now() };
  paintClock();
}

function clockNow() {
  const c = S.clock;
  if (!c) return null;
  if (c.mode !== "realtime") return c.now;
  return c.now + ((performance.now() - c.at) / 1000) * c.speed;
}

function paintClock() {
  const c = S.clock;
  if (!c) return;
  const now = clockNow();
  $("clock-badge").textContent = `${c.mode}${c.mode === "realtime" ? ` ×${c.speed}` : ""} · ${fmtTime(now)}`;
  $("clock-mode").textContent = c.mode;
  $("clock-speed").textContent = String(c.speed);
  $("clock-now").textContent = `${fmtTime(now)} (${now.toFixed(3)})`;
}
setInterval(paintClock, 1000); // local display only: the fake is not asked

async function loadClock() { setClock(await api("GET", "clock")); }

async function clockCall(path, body) {
  showError("clock-error", null);
  try {
    await api("POST", path, body);
    await loadClock();
  } catch (e) { showError("clock-error", e); }
}
$("clock-pause").addEventListener("click", () => clockCall("clock", { mode: "manual" }));
$("clock-advance-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  clockCall("clock/advance", { seconds: $("clock-seconds").value });
});
$("clock-mode-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const body = { mode: $("clock-mode-select").value };
  if ($("clock-mode-select").value === "realtime") body.speed = $("clock-speed-input").value;
  clockCall("clock", body);
});

// ------------------------------------------------------------------ faults and scenarios
const TEMPLATES = {
  faults: { path: "/v1/Task/Detail", status: 503, times: 1 },
  "socket-faults": { action: "close", after: 3, code: 4000, times: 1 },
  "callback-faults": { action: "late", delay: 60, times: 1 },
  scenarios: { prompt_contains: "[[fail]]", fail_at: "task_start", times: 1 },
};

function fillTemplate() {
  $("chaos-json").value = JSON.stringify(TEMPLATES[$("chaos-kind").value]);
}
$("chaos-kind").addEventListener("change", fillTemplate);
fillTemplate();

$("chaos-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError("chaos-error", null);
  let body;
  try { body = JSON.parse($("chaos-json").value); } catch (e) { showError("chaos-error", new Error(`not JSON: ${e.message}`)); return; }
  if (!body || typeof body !== "object" || Array.isArray(body)) { showError("chaos-error", new Error("a rule is a JSON object")); return; }
  try {
    await api("POST", $("chaos-kind").value, body); // the control API validates it
    await loadChaos();
  } catch (e) { showError("chaos-error", e); }
});

async function loadChaos() {
  const [http, socket, callback, scen] = await Promise.all([
    api("GET", "faults"), api("GET", "socket-faults"), api("GET", "callback-faults"), api("GET", "scenarios"),
  ]);
  fillRules("faults", http.faults);
  fillRules("socket-faults", socket.faults);
  fillRules("callback-faults", callback.faults);
  fillRules("scenarios", scen.scenarios);
}

function fillRules(kind, rules) {
  $(`list-${kind}`).replaceChildren(...(rules.length ? rules.map((r) => {
    const shown = Object.entries(r).filter(([k, v]) => k !== "id" && v !== null && v !== "" && !(Array.isArray(v) && !v.length));
    return el("li", { "data-rule": r.id }, el("b", {}, r.id), el("pre", {}, shown.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n")),
      el("button", { type: "button", class: "danger", onclick: async () => {
        showError("chaos-error", null);
        try { await api("DELETE", `${kind}/${encodeURIComponent(r.id)}`); await loadChaos(); } catch (e) { showError("chaos-error", e); }
      } }, "remove"));
  }) : [el("li", { class: "note" }, "none")]));
}

// ------------------------------------------------------------------ reset
$("reset-button").addEventListener("click", async (ev) => {
  const b = ev.currentTarget;
  if (b.dataset.armed !== "1") {
    b.dataset.armed = "1";
    b.textContent = "Confirm reset";
    setTimeout(() => { b.dataset.armed = ""; b.textContent = "Reset"; }, 4000);
    return;
  }
  b.dataset.armed = "";
  b.textContent = "Reset";
  await api("POST", "reset").catch((e) => console.warn(e));
  S.selected = null;
  $("detail").hidden = true;
  refreshAll();
});

// ------------------------------------------------------------------ the live feed
const HANDLERS = {
  hello(d) { S.journalSeq = d.journal_seq; refreshAll(); },
  tasks(d) { onTaskRows(d.rows); },
  resync() { loadTasks().catch(() => {}); },
  journal(d) {
    S.journalSeq = d.last_seq;
    if (S.view === "journal") debounce("journal", 100, () => loadJournal(S.journalShown === 0).catch(() => {}));
  },
  state() {
    debounce("state", 50, () => {
      loadClock().catch(() => {});
      if (S.view === "tasks") loadTasks().catch(() => {});
      else refreshView();
      if (S.selected) loadDetail().catch(() => { S.selected = null; $("detail").hidden = true; });
    });
  },
};

function handleEvent(chunk) {
  let name = "message";
  let data = "";
  for (const line of chunk.split("\n")) {
    if (line.startsWith(":")) continue;
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  if (!data || !HANDLERS[name]) return;
  HANDLERS[name](JSON.parse(data));
  document.body.dataset.feedEvents = String(Number(document.body.dataset.feedEvents || 0) + 1);
}

let feedGeneration = 0;
async function connectFeed() {
  const generation = ++feedGeneration;
  const status = $("feed-status");
  try {
    const response = await fetch("dashboard/events", { headers: headers(), cache: "no-store" });
    if (response.status === 401) { showTokenGate("admin token refused"); return; }
    if (!response.ok) throw new Error(`feed: HTTP ${response.status}`);
    status.textContent = "live";
    status.className = "feed-on";
    document.body.dataset.feed = "live";
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let at;
      while ((at = buffer.indexOf("\n\n")) >= 0) {
        const chunk = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        handleEvent(chunk);
      }
    }
  } catch (e) {
    console.warn("feed", e);
  }
  if (generation !== feedGeneration) return;
  status.textContent = "reconnecting";
  status.className = "feed-off";
  document.body.dataset.feed = "off";
  setTimeout(connectFeed, 1000); // the stream ended (the fake restarted?): reconnect
}

// ------------------------------------------------------------------ start
function refreshAll() {
  loadClock().catch(() => {});
  refreshView();
}

async function start() {
  try {
    S.info = await api("GET", "dashboard/info");
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) showError("token-error", e);
    return;
  }
  $("token-gate").hidden = true;
  setClock(S.info.clock);
  $("action-stage").replaceChildren(...S.info.holdable.map((s) => el("option", { value: s }, s)));
  connectFeed();
}

start();
