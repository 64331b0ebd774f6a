// smsledger console: the little script the pages need. It refreshes the
// overview's figures from overview.json, reloads charts, and asks before
// destructive changes (forms with data-confirm). Everything else is HTML.
"use strict";

function refreshOverview(root) {
  const url = root.dataset.live;
  const fmt = (el, v) => {
    if (el.dataset.format === "percent") {
      return v < 0 ? "–" : (v * 100).toFixed(1) + " %";
    }
    if (typeof v === "number") {
      return Number.isInteger(v) ? String(v) : v.toFixed(1);
    }
    return String(v);
  };
  const tick = async () => {
    try {
      const res = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (res.status === 401) {
        window.location = "/console/login";
        return;
      }
      const o = await res.json();
      root.querySelectorAll("[data-field]").forEach((el) => {
        if (el.dataset.field in o) {
          el.textContent = fmt(el, o[el.dataset.field]);
        }
      });
      root.querySelectorAll("[data-level]").forEach((el) => {
        el.className = el.className.replace(/level-\S+/, "") + " level-" + o[el.dataset.level];
      });
      const body = document.querySelector("tbody[data-rows=suppliers]");
      if (body && o.suppliers) {
        body.replaceChildren(...o.suppliers.map((s) => {
          const tr = document.createElement("tr");
          const a = document.createElement("a");
          a.href = "/console/suppliers/" + encodeURIComponent(s.id);
          a.textContent = s.id;
          const cells = [a, s.binds_up, s.queue_depth, s.health_score];
          cells.forEach((c) => {
            const td = document.createElement("td");
            if (c instanceof Node) td.appendChild(c); else td.textContent = String(Math.round(c));
            tr.appendChild(td);
          });
          return tr;
        }));
      }
      root.dataset.updated = o.at;
    } catch (e) {
      root.dataset.error = String(e);
    }
  };
  tick();
  setInterval(tick, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.querySelector("[data-live]");
  if (live) refreshOverview(live);
  document.querySelectorAll("img[data-refresh]").forEach((img) => {
    const base = img.getAttribute("src");
    setInterval(() => { img.src = base + (base.includes("?") ? "&" : "?") + "t=" + Date.now(); }, Number(img.dataset.refresh));
  });
  document.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (ev) => {
      if (!window.confirm(f.dataset.confirm)) ev.preventDefault();
    });
  });
});
