// The public page works without this file; it only makes the uptime bars and update times nicer to use.
// - One tab stop per bar row (roving tabindex), arrow keys move between days, Home/End jump.
// - Tooltips near the edges open inward so they never leave the screen.
// - Escape hides the tooltip shown by hover or focus until the pointer or focus leaves that day (WCAG 1.4.13).
(function () {
  "use strict";

  function setupBars(root) {
    root.querySelectorAll("[data-bars]").forEach(function (list) {
      if (list.dataset.ready) return;
      list.dataset.ready = "1";
      var bars = Array.prototype.slice.call(list.children);
      if (!bars.length) return;
      bars.forEach(function (bar, i) {
        bar.tabIndex = i === bars.length - 1 ? 0 : -1;
        var share = i / bars.length;
        if (share < 0.15) bar.classList.add("tip-left");
        else if (share > 0.85) bar.classList.add("tip-right");
      });
      function undismiss(event) {
        var bar = event.target.closest && event.target.closest("[data-bars] > li");
        if (bar) bar.classList.remove("tip-dismissed");
      }
      list.addEventListener("focusout", undismiss);
      list.addEventListener("mouseout", undismiss);
      list.addEventListener("keydown", function (event) {
        var current = bars.indexOf(document.activeElement);
        if (current < 0) return;
        var next = current;
        if (event.key === "ArrowLeft") next = current - 1;
        else if (event.key === "ArrowRight") next = current + 1;
        else if (event.key === "Home") next = 0;
        else if (event.key === "End") next = bars.length - 1;
        else return;
        event.preventDefault();
        next = Math.max(0, Math.min(bars.length - 1, next));
        // Skip the days hidden on small screens.
        while (next > 0 && bars[next].offsetParent === null) next += next > current ? 1 : -1;
        if (next < 0 || next >= bars.length) return;
        bars[current].tabIndex = -1;
        bars[next].tabIndex = 0;
        bars[next].focus();
      });
    });
  }

  // "Next update by 14:30": once that time has passed, say the update is on its way rather than show a
  // promise already broken (the page is a static snapshot until the next update is posted).
  function markLateUpdates(root) {
    root.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.dataset.due);
      if (!isNaN(due) && Date.now() > due) {
        el.textContent = "The next update is expected shortly.";
      }
    });
  }

  // The subscribe form shows only the fields of the chosen kind (email or webhook).
  function setupSubscribe() {
    var form = document.querySelector(".sub-form");
    var radios = form ? form.querySelectorAll("input[name=kind]") : [];
    if (!radios.length) return;
    function show() {
      var checked = form.querySelector("input[name=kind]:checked");
      form.classList.add("js-kind");
      form.classList.toggle("kind-webhook", !!checked && checked.value === "webhook");
      form.classList.toggle("kind-email", !checked || checked.value !== "webhook");
    }
    radios.forEach(function (r) { r.addEventListener("change", show); });
    show();
  }

  function dismissTips(event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("[data-bars] > li:hover, [data-bars] > li:focus").forEach(function (bar) {
      bar.classList.add("tip-dismissed");
    });
  }

  document.addEventListener("keydown", dismissTips);
  document.addEventListener("DOMContentLoaded", function () {
    setupBars(document);
    markLateUpdates(document);
    setupSubscribe();
  });
  // htmx replaces the live region every refresh; set the new bars up too.
  document.addEventListener("htmx:load", function (event) {
    setupBars(event.detail.elt.parentNode || document);
    markLateUpdates(event.detail.elt.parentNode || document);
  });
})();
