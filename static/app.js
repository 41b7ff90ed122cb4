// hubweb: small progressive enhancements. Every form works without this file.
(function () {
  "use strict";

  // Account menu: the link opens a menu; without JavaScript it opens by :target.
  function setupMenu() {
    var link = document.getElementById("account-menu-link");
    var menu = document.getElementById("account-menu");
    if (!link || !menu || link.dataset.ready) return;
    link.dataset.ready = "1";
    link.setAttribute("aria-expanded", "false");
    function close() { menu.hidden = true; link.setAttribute("aria-expanded", "false"); }
    link.addEventListener("click", function (e) {
      e.preventDefault();
      var open = menu.hidden;
      menu.hidden = !open;
      link.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) { var first = menu.querySelector("a, button"); if (first) first.focus(); }
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !menu.hidden) { close(); link.focus(); }
    });
    document.addEventListener("click", function (e) {
      if (!menu.hidden && !menu.contains(e.target) && !link.contains(e.target)) close();
    });
  }

  // Copy buttons: copy exactly the data-copy-from element's data-secret value.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-copy-from]");
    if (!btn) return;
    var src = document.getElementById(btn.getAttribute("data-copy-from"));
    if (!src || !navigator.clipboard) return;
    navigator.clipboard.writeText(src.getAttribute("data-secret")).then(function () {
      var status = document.getElementById(btn.getAttribute("aria-describedby") || "");
      if (status) status.textContent = "Copied.";
    });
  });

  // After htmx swaps a panel in, move focus to its first field; failing that to
  // its message or heading, so that keyboard focus is never lost on <body>.
  var FOCUS_ORDER = ["[autofocus]", "input:not([type=hidden]):not([disabled])",
    "[role=alert]", "[role=status]:not(:empty)", "h1, h2"];
  document.addEventListener("htmx:after:swap", function (e) {
    var root = e.target && e.target.isConnected ? e.target : document;
    var target = null;
    for (var i = 0; i < FOCUS_ORDER.length && !target && root.querySelector; i++) {
      target = root.querySelector(FOCUS_ORDER[i]);
    }
    if (target && document.activeElement !== target) {
      if (!target.matches("input, button, a")) target.setAttribute("tabindex", "-1");
      target.focus();
    }
  });

  document.addEventListener("DOMContentLoaded", setupMenu);
})();
