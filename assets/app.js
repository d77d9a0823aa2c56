// MarketScout dashboard: pages work without this file; it only adds
// conveniences. No third-party code.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Filters apply as soon as a choice changes.
  for (const select of document.querySelectorAll("form.filters select")) {
    select.addEventListener("change", () => select.form.submit());
  }
});

// A running scan's page fills its progress as pages arrive, then shows the result.
document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("scan");
  if (!section || section.dataset.running !== "true") return;
  const set = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = value; };
  const tick = async () => {
    let s;
    try {
      const response = await fetch(section.dataset.progress, { headers: { accept: "application/json" } });
      if (!response.ok) return setTimeout(tick, 2000);
      s = await response.json();
    } catch (_) {
      return setTimeout(tick, 2000);
    }
    const bar = document.getElementById("scan-progress");
    bar.max = s.max_pages;
    bar.value = s.running ? s.pages : s.max_pages;
    for (const key of ["pages", "items", "accepted", "duplicates", "skipped", "refreshed"]) set("scan-" + key, s[key]);
    set("scan-status", s.status);
    set("scan-took", s.took);
    const list = document.getElementById("scan-errors");
    list.replaceChildren(...s.errors.map((e) => { const li = document.createElement("li"); li.textContent = e; return li; }));
    if (s.running) setTimeout(tick, 500);
    else { section.dataset.running = "false"; const none = document.getElementById("no-errors"); if (none && s.errors.length) none.remove(); }
  };
  setTimeout(tick, 300);
});

// New alerts appear at the top of the alert list as they are raised, and the
// unread count follows; the server's event stream resumes where it left off.
document.addEventListener("DOMContentLoaded", () => {
  const list = document.getElementById("alert-list");
  if (!list || !list.dataset.stream || !window.EventSource) return;
  const csrf = document.querySelector("input[name=csrf]");
  const labels = { score_threshold: "Score level", score_jump: "Score jump", stage_change: "Stage",
    viral_ad: "Viral ad", forecast_growth: "Forecast", new_country: "New country" };
  const source = new EventSource(list.dataset.stream);
  source.addEventListener("alert", (event) => {
    const a = JSON.parse(event.data);
    if (list.querySelector(`li[data-id="${a.id}"]`)) return;
    const li = document.createElement("li");
    li.className = "alert unread";
    li.dataset.id = a.id;
    const rule = document.createElement("span");
    rule.className = "rule";
    rule.textContent = labels[a.rule] || "Alert";
    const link = document.createElement("a");
    link.className = "message";
    link.id = "alert-" + a.id;
    link.href = "/app/products/" + a.product_id;
    link.textContent = a.message;
    const time = document.createElement("time");
    time.textContent = a.created_at.slice(0, 16).replace("T", " ") + " UTC";
    li.append(rule, link, time);
    if (csrf) {
      const form = document.createElement("form");
      form.method = "post";
      form.action = "/app/alerts/" + a.id + "/read";
      const token = document.createElement("input");
      token.type = "hidden"; token.name = "csrf"; token.value = csrf.value;
      const button = document.createElement("button");
      button.type = "submit"; button.className = "link"; button.textContent = "Mark read";
      button.setAttribute("aria-describedby", link.id);
      form.append(token, button);
      li.append(form);
    }
    list.prepend(li);
    const none = document.getElementById("no-alerts");
    if (none) none.remove();
    const count = document.getElementById("unread-count");
    if (count) {
      const n = Number(count.dataset.count || 0) + 1;
      count.dataset.count = n;
      count.textContent = n + " unread";
    }
  });
});
