// The event inspector's view (anywidget). Everything comes from the kernel through the
// widget's model; nothing is fetched from the collector's port. Text goes into the page
// as text nodes only: nothing an event contains is ever read as HTML.

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// A field path breaks after its dots, never inside a name ("properties.curre|ncy").
function pathCell(field) {
  const parts = String(field || "").split(".");
  const children = parts.flatMap((part, i) => (i < parts.length - 1 ? [`${part}.`, el("wbr", {})] : [part]));
  return el("td", { class: "smi-path" }, ...children);
}

const FILTERS = [
  ["type", "select", ["", "track", "identify", "page", "screen", "group", "alias"], "all types"],
  ["event", "input", null, "event or name"],
  ["userId", "input", null, "user"],
  ["q", "input", null, "search payloads"],
  ["verdict", "select", ["", "violations", "dropped", "valid"], "all verdicts"],
];
// "2024-01-15T10:30:00.123Z" -> "10:30:00" (the whole time in the title)
function clock(time) {
  const match = /T(\d\d:\d\d:\d\d)/.exec(time || "");
  return match ? match[1] : (time || "");
}

const VERDICT_NAMES = {"": "all verdicts", violations: "plan violations", dropped: "Segment would drop", valid: "valid"};

function render({ model, el: root }) {
  root.classList.add("smi");
  const source = el("div", { class: "smi-source", "data-testid": "inspector-source" });
  const summary = el("div", { class: "smi-summary", "data-testid": "inspector-summary" });
  const pause = el("button", { type: "button", class: "smi-button", "data-testid": "inspector-pause" });
  const controls = el("div", { class: "smi-controls" });
  const inputs = {};
  let typing = null;
  for (const [key, kind, options, placeholder] of FILTERS) {
    let input;
    if (kind === "select") {
      input = el("select", { "aria-label": placeholder, "data-testid": `inspector-filter-${key}` },
        ...options.map((o) => el("option", { value: o }, key === "verdict" ? VERDICT_NAMES[o] : (o || placeholder))));
      input.addEventListener("change", () => setFilter(key, input.value));
    } else {
      input = el("input", { placeholder, "aria-label": placeholder, "data-testid": `inspector-filter-${key}` });
      input.addEventListener("input", () => {
        clearTimeout(typing);
        typing = setTimeout(() => setFilter(key, input.value), 250);
      });
    }
    inputs[key] = input;
    controls.append(input);
  }
  const clearField = el("button", { type: "button", class: "smi-chip", hidden: "", "data-testid": "inspector-field" });
  clearField.addEventListener("click", () => setFilter("field", ""));
  controls.append(clearField, pause);

  const tabs = el("div", { class: "smi-tabs", role: "tablist" });
  const tabEvents = el("button", { type: "button", role: "tab", class: "smi-tab", "data-testid": "inspector-tab-events" }, "Events");
  const tabGroups = el("button", { type: "button", role: "tab", class: "smi-tab", "data-testid": "inspector-tab-violations" }, "Violations");
  tabs.append(tabEvents, tabGroups);

  const list = el("div", { class: "smi-list", tabindex: "0", role: "listbox", "aria-label": "events", "data-testid": "inspector-list" });
  const more = el("button", { type: "button", class: "smi-button smi-more", "data-testid": "inspector-more" }, "Load older");
  const detail = el("div", { class: "smi-detail", "data-testid": "inspector-detail" });
  const events = el("div", { class: "smi-events" }, el("div", { class: "smi-listwrap" }, list, more), detail);
  const groups = el("div", { class: "smi-groups", hidden: "", "data-testid": "inspector-groups" });
  root.append(el("div", { class: "smi-head" }, source, summary), controls, tabs, events, groups);

  let tab = "events";
  function showTab(name) {
    tab = name;
    tabEvents.setAttribute("aria-selected", String(name === "events"));
    tabGroups.setAttribute("aria-selected", String(name === "groups"));
    events.hidden = name !== "events";
    groups.hidden = name !== "groups";
  }
  tabEvents.addEventListener("click", () => showTab("events"));
  tabGroups.addEventListener("click", () => showTab("groups"));

  function setFilter(key, value) {
    const filters = { ...(model.get("filters") || {}) };
    if (value) filters[key] = value; else delete filters[key];
    model.set("filters", filters);
    model.save_changes();
  }

  function select(id) {
    model.set("selected", id);
    model.save_changes();
  }

  function badge(b) {
    return el("span", { class: `smi-badge smi-${b.kind}` }, b.text);
  }

  function drawRows() {
    const rows = model.get("rows") || [];
    const chosen = model.get("selected");
    list.replaceChildren(...rows.map((r) => {
      const item = el("div", {
        class: "smi-row" + (r.id === chosen ? " smi-chosen" : ""), role: "option",
        "aria-selected": String(r.id === chosen), "data-id": String(r.id), "data-testid": "inspector-row",
      },
        el("span", { class: "smi-time", title: r.time || "" }, clock(r.time)),
        el("span", { class: "smi-type" }, r.type || ""),
        el("span", { class: "smi-label", "data-testid": "inspector-label" }, r.label || ""),
        el("span", { class: "smi-user" }, r.user || ""),
        el("span", { class: "smi-badges" }, ...(r.badges || []).map(badge)));
      item.addEventListener("click", () => select(r.id));
      return item;
    }));
    if (!rows.length) list.append(el("div", { class: "smi-empty" }, "No events yet: calls you send appear here."));
    more.hidden = !model.get("more");
  }

  function drawDetail() {
    const d = model.get("detail") || {};
    if (d.id === undefined) {
      detail.replaceChildren(el("div", { class: "smi-empty" }, "Select an event (click, or ↑ ↓) to see its payload and verdict."));
      return;
    }
    const copy = el("button", { type: "button", class: "smi-button", "data-testid": "inspector-copy" }, "Copy");
    copy.addEventListener("click", async () => {
      try { await navigator.clipboard.writeText(d.payload); copy.textContent = "Copied"; }
      catch (e) { copy.textContent = "Select the text to copy"; }
    });
    const parts = [el("div", { class: "smi-detail-head" }, el("strong", {}, d.title || ""), el("span", { class: "smi-time" }, d.time || ""), copy)];
    for (const reason of d.reasons || []) parts.push(el("div", { class: "smi-reason", "data-testid": "inspector-reason" }, reason));
    if ((d.violations || []).length) {
      parts.push(el("table", { class: "smi-violations", "data-testid": "inspector-violations" },
        el("thead", {}, el("tr", {}, el("th", {}, "path"), el("th", {}, "value"), el("th", {}, "expected"))),
        el("tbody", {}, ...d.violations.map((v) => el("tr", {},
          pathCell(v.field), el("td", {}, v.value === "(missing)" ? el("span", { class: "smi-missing" }, v.value)
            : el("code", {}, v.value)), el("td", {}, `${v.expected} (${v.kind})`))))));
    } else if (d.checked) {
      parts.push(el("div", { class: "smi-okline" }, "valid against the plan"));
    }
    parts.push(el("pre", { class: "smi-payload", "data-testid": "inspector-payload" }, d.payload || ""));
    detail.replaceChildren(...parts);
  }

  function drawGroups() {
    const rows = model.get("groups") || [];
    if (!rows.length) {
      groups.replaceChildren(el("div", { class: "smi-empty" }, "No plan violations (with no plan active, nothing is checked)."));
      return;
    }
    const body = el("tbody", {});
    let event = null;
    for (const g of rows) {
      if (g.event !== event) {
        event = g.event;
        body.append(el("tr", { class: "smi-group-event" }, el("td", { colspan: "5" }, `${g.event || "(no name)"} · ${g.type}`)));
      }
      const tr = el("tr", { class: "smi-group", "data-testid": "inspector-group", title: "show these events" },
        pathCell(g.field), el("td", {}, g.kind), el("td", { class: "smi-num" }, String(g.count)),
        el("td", { class: "smi-time" }, `${(g.first || "").slice(0, 19)} … ${(g.last || "").slice(0, 19)}`),
        el("td", {}, g.detail || ""));
      tr.addEventListener("click", () => {
        const filters = { verdict: "violations", field: g.field };
        if (g.event) filters.event = g.event;
        model.set("filters", filters);
        model.save_changes();
        showTab("events");
      });
      body.append(tr);
    }
    groups.replaceChildren(el("table", { class: "smi-grouptable" },
      el("thead", {}, el("tr", {}, el("th", {}, "path"), el("th", {}, "kind"), el("th", {}, "events"), el("th", {}, "first … last seen"), el("th", {}, "expected"))),
      body));
  }

  function drawHead() {
    source.textContent = model.get("source") || "";
    const c = model.get("counts") || {};
    const parts = [`${model.get("matching") || 0} matching of ${c.total || 0}`];
    if (c.invalid) parts.push(`${c.invalid} with violations`);
    if (c.dropped) parts.push(`${c.dropped} Segment would drop`);
    if (c.duplicates) parts.push(`${c.duplicates} duplicates`);
    if (c.trimmed) parts.push(`${c.trimmed} oldest let go`);
    if (model.get("paused") && model.get("waiting")) parts.push(`paused · ${model.get("waiting")} new waiting`);
    summary.textContent = parts.join(" · ");
    pause.textContent = model.get("paused") ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(!!model.get("paused")));
    tabGroups.textContent = `Violations (${(model.get("groups") || []).reduce((n, g) => n + g.count, 0)})`;
    const filters = model.get("filters") || {};
    for (const [key, input] of Object.entries(inputs)) {
      if (document.activeElement !== input && (input.value || "") !== (filters[key] || "")) input.value = filters[key] || "";
    }
    clearField.hidden = !filters.field;
    clearField.textContent = filters.field ? `${filters.field} ✕` : "";
  }

  pause.addEventListener("click", () => { model.set("paused", !model.get("paused")); model.save_changes(); });
  more.addEventListener("click", () => model.send({ kind: "older" }));
  list.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    event.preventDefault();
    const rows = model.get("rows") || [];
    if (!rows.length) return;
    const at = rows.findIndex((r) => r.id === model.get("selected"));
    const next = event.key === "ArrowDown" ? Math.min(rows.length - 1, at + 1) : Math.max(0, at - 1);
    select(rows[next < 0 ? 0 : next].id);
    const node = list.querySelector(`[data-id="${rows[next < 0 ? 0 : next].id}"]`);
    if (node) node.scrollIntoView({ block: "nearest" });
  });

  const redraw = () => { drawRows(); drawHead(); };
  model.on("change:rows", redraw);
  model.on("change:selected", drawRows);
  model.on("change:detail", drawDetail);
  model.on("change:groups", () => { drawGroups(); drawHead(); });
  for (const name of ["counts", "matching", "paused", "waiting", "source", "filters", "more"]) model.on(`change:${name}`, drawHead);
  showTab("events");
  redraw();
  drawDetail();
  drawGroups();
}

export default { render };
