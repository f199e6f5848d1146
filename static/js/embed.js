// The status embed: <script src="https://<your page>/embed/script.js" async></script> on any site.
// While an incident or a maintenance is under way it shows a small notice in the bottom right corner
// (its name, its status, a link to it); when all is well it shows nothing. The notice can be closed and
// stays closed until something new is posted.
// No dependencies, no eval, no innerHTML: all text goes in through textContent, all style through the DOM.
(function () {
  "use strict";

  // The page's address, with a trailing slash; written in when the page serves this file.
  var PAGE_URL = "__STATUSPAGE_PAGE_URL__";
  var REFRESH_MS = 5 * 60 * 1000;
  var MAX_ITEMS = 3;
  var ROOT_ID = "statuspage-embed-" + PAGE_URL.replace(/[^a-z0-9]+/gi, "-");
  var STORAGE_KEY = "statuspage-embed-dismissed:" + PAGE_URL;

  var LOADED = "__" + ROOT_ID;
  if (window[LOADED]) return; // the snippet was pasted twice
  window[LOADED] = true;

  var ACCENT = { critical: "#e74c3c", major: "#e67e22", minor: "#f1c40f", maintenance: "#3498db" };
  var STATUS = {
    investigating: "Investigating",
    identified: "Identified",
    monitoring: "Monitoring",
    in_progress: "Maintenance in progress",
    verifying: "Verifying maintenance",
  };

  function el(tag, style, text) {
    var node = document.createElement(tag);
    for (var key in style) {
      if (Object.prototype.hasOwnProperty.call(style, key)) node.style[key] = style[key];
    }
    if (text) node.textContent = text;
    return node;
  }

  function openItems(summary) {
    var items = (summary.incidents || []).slice();
    (summary.scheduled_maintenances || []).forEach(function (m) {
      if (m.status === "in_progress" || m.status === "verifying") items.push(m);
    });
    return items;
  }

  // What the reader closed: the items and their last update, so a new update shows the notice again.
  function signature(items) {
    return items
      .map(function (i) {
        return i.id + "@" + i.updated_at;
      })
      .join(",");
  }

  function dismissed(sig) {
    try {
      return window.localStorage.getItem(STORAGE_KEY) === sig;
    } catch (e) {
      return false; // storage blocked: the notice simply comes back on the next page view
    }
  }

  function remember(sig) {
    try {
      window.localStorage.setItem(STORAGE_KEY, sig);
    } catch (e) {
      /* nothing to do */
    }
  }

  function remove() {
    var old = document.getElementById(ROOT_ID);
    if (old) old.parentNode.removeChild(old);
  }

  function worst(items) {
    var rank = { none: 0, maintenance: 1, minor: 2, major: 3, critical: 4 };
    return items.reduce(function (acc, item) {
      return (rank[item.impact] || 0) > (rank[acc] || 0) ? item.impact : acc;
    }, "none");
  }

  function render(summary) {
    var items = openItems(summary);
    var sig = signature(items);
    remove();
    if (!items.length || dismissed(sig)) return;

    var box = el("div", {
      position: "fixed",
      right: "16px",
      bottom: "16px",
      zIndex: "2147483647",
      maxWidth: "360px",
      boxSizing: "border-box",
      padding: "12px 40px 12px 14px",
      background: "#ffffff",
      color: "#1f2328",
      border: "1px solid #d0d7de",
      borderLeft: "5px solid " + (ACCENT[worst(items)] || "#6e7781"),
      borderRadius: "6px",
      boxShadow: "0 4px 16px rgba(0,0,0,0.18)",
      font: "14px/1.4 -apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif",
      textAlign: "left",
    });
    box.id = ROOT_ID;
    box.setAttribute("role", "status");
    box.setAttribute("aria-live", "polite");
    box.setAttribute("aria-label", (summary.page && summary.page.name ? summary.page.name + " " : "") + "status");

    items.slice(0, MAX_ITEMS).forEach(function (item, n) {
      var row = el("div", { marginTop: n ? "10px" : "0" });
      var link = el("a", { color: "#0969da", fontWeight: "600", textDecoration: "underline" }, item.name);
      link.href = PAGE_URL + "incidents/" + encodeURIComponent(item.id);
      link.target = "_blank";
      link.rel = "noopener";
      row.appendChild(link);
      row.appendChild(el("div", { color: "#57606a", fontSize: "13px" }, STATUS[item.status] || item.status));
      box.appendChild(row);
    });
    if (items.length > MAX_ITEMS) {
      var more = el("a", { display: "block", marginTop: "10px", color: "#0969da", fontSize: "13px" });
      more.textContent = "and " + (items.length - MAX_ITEMS) + " more on the status page";
      more.href = PAGE_URL;
      more.target = "_blank";
      more.rel = "noopener";
      box.appendChild(more);
    }

    var close = el(
      "button",
      {
        position: "absolute",
        top: "6px",
        right: "6px",
        width: "28px",
        height: "28px",
        padding: "0",
        border: "0",
        borderRadius: "4px",
        background: "transparent",
        color: "#57606a",
        fontSize: "20px",
        lineHeight: "28px",
        cursor: "pointer",
      },
      "\u00d7"
    );
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss status notice");
    close.addEventListener("click", function () {
      remember(sig);
      remove();
    });
    box.appendChild(close);
    document.body.appendChild(box);
  }

  function refresh() {
    if (!window.fetch) return;
    window
      .fetch(PAGE_URL + "api/v2/summary.json", { mode: "cors", credentials: "omit" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (summary) {
        if (summary) render(summary);
      })
      .catch(function () {
        /* the status page is unreachable: say nothing rather than something wrong */
      });
  }

  function start() {
    refresh();
    window.setInterval(refresh, REFRESH_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
