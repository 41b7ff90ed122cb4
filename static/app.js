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

  // "Copy key": a button added after each element with data-secret (the key
  // panel's #totp-secret) that copies exactly that attribute's value. Added
  // here, not in the page, and only where the browser can copy (the Clipboard
  // API needs a secure context), so no page shows a button that does nothing.
  function addCopyButtons(root) {
    if (!navigator.clipboard || !root.querySelectorAll) return;
    root.querySelectorAll("[data-secret]").forEach(function (src) {
      if (!src.id || document.getElementById(src.id + "-copy-status")) return;
      var button = document.createElement("button");
      var status = document.createElement("span");
      button.type = "button";
      button.textContent = "Copy key";
      status.id = src.id + "-copy-status";
      status.setAttribute("role", "status");
      button.setAttribute("aria-describedby", status.id);
      button.addEventListener("click", function () {
        status.textContent = "";
        navigator.clipboard.writeText(src.getAttribute("data-secret")).then(function () {
          status.textContent = "Copied.";
        }, function () {
          status.textContent = "Could not copy; select the key and copy it.";
        });
      });
      src.after(button, " ", status);
    });
  }

  // After htmx swaps a panel in, move focus to its first field with an error
  // (aria-invalid, whose message aria-describedby reads out; the message itself
  // is role=alert, announced as it appears), else its first field; failing
  // that to its message or heading, so that keyboard focus is never lost on
  // <body>. The same rule as autofocus in whole pages (issue 11 rule 6).
  var FOCUS_ORDER = ["[aria-invalid=true]", "[autofocus]",
    "input:not([type=hidden]):not([disabled]):not([readonly])",
    "[role=alert]", "[role=status]:not(:empty)", "h1, h2, h3"];
  function swapped(e) {
    var t = e.target;
    if (t && t.isConnected) return t;
    // An outerHTML swap replaced the target: its successor has the same id.
    var again = t && t.id ? document.getElementById(t.id) : null;
    return again || document;
  }
  document.addEventListener("htmx:after:swap", function (e) {
    var root = swapped(e);
    addCopyButtons(root);
    var target = null;
    for (var i = 0; i < FOCUS_ORDER.length && !target && root.querySelector; i++) {
      target = root.querySelector(FOCUS_ORDER[i]);
    }
    if (target && document.activeElement !== target) {
      if (!target.matches("input, button, a")) target.setAttribute("tabindex", "-1");
      target.focus();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    setupMenu();
    addCopyButtons(document);
  });
})();
