// Console behaviour; every page works without it.
// - Countdowns to the next due update tick every second, measured against the server's clock
//   (data-now), so they agree with the reminders the server sends: amber when due soon, red and counting
//   up when overdue.
// - Choosing a status pre-fills the message with that status's default text, unless you wrote your own.
// - A button with data-confirm asks before it submits (no inline onclick: the CSP allows no inline script).
(function () {
  "use strict";
  var offset = null;

  function fmt(seconds) {
    seconds = Math.abs(Math.round(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(s).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }

  function tick() {
    document.querySelectorAll("[data-due]").forEach(function (el) {
      if (!el.dataset.due) return;
      if (offset === null && el.dataset.now) offset = Date.parse(el.dataset.now) - Date.now();
      var now = Date.now() + (offset || 0);
      var left = (Date.parse(el.dataset.due) - now) / 1000;
      var lead = parseInt(el.dataset.lead, 10);
      lead = (isNaN(lead) ? 5 : lead) * 60;
      el.classList.remove("due--ok", "due--soon", "due--overdue");
      if (left <= 0) { el.classList.add("due--overdue"); el.textContent = "overdue " + fmt(left); }
      else if (left <= lead) { el.classList.add("due--soon"); el.textContent = "due in " + fmt(left); }
      else { el.classList.add("due--ok"); el.textContent = "due in " + fmt(left); }
    });
  }

  function defaults() {
    var node = document.getElementById("status-defaults");
    return node ? JSON.parse(node.textContent) : {};
  }

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.name !== "status" || !select.form) return;
    var body = select.form.querySelector("textarea[name=body]");
    if (!body) return;
    var texts = defaults();
    var known = Object.keys(texts).map(function (k) { return texts[k]; });
    if (!body.value.trim() || known.indexOf(body.value.trim()) >= 0) {
      body.value = texts[select.value] || "";
      body.dispatchEvent(new Event("input", { bubbles: true }));
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-confirm]") : null;
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
  document.addEventListener("htmx:afterSettle", function () { offset = null; tick(); });
})();
