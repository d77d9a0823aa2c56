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
