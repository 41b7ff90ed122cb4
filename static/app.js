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
  // Its words are the page's, in the page's language (data-copy-label,
  // data-copy-done, data-copy-failed on <body>, base.html); without them, no button.
  function addCopyButtons(root) {
    var words = document.body.dataset;
    if (!navigator.clipboard || !root.querySelectorAll || !words.copyLabel) return;
    root.querySelectorAll("[data-secret]").forEach(function (src) {
      if (!src.id || document.getElementById(src.id + "-copy-status")) return;
      var button = document.createElement("button");
      var status = document.createElement("span");
      button.type = "button";
      button.textContent = words.copyLabel;
      status.id = src.id + "-copy-status";
      status.setAttribute("role", "status");
      button.setAttribute("aria-describedby", status.id);
      button.addEventListener("click", function () {
        status.textContent = "";
        navigator.clipboard.writeText(src.getAttribute("data-secret")).then(function () {
          status.textContent = words.copyDone;
        }, function () {
          status.textContent = words.copyFailed;
        });
      });
      src.after(button, " ", status);
    });
  }

  // Send-limit countdown (no error the person did not cause): an element with data-countdown
  // (seconds) holds back the button named by data-countdown-button until the
  // wait is over, rewriting {wait} in data-countdown-text each second and then
  // showing data-countdown-done. Every word comes from the page's data
  // attributes (data-countdown-units: {"forms": {"seconds": {"one": "{count}
  // second", "other": "{count} seconds"}, "minutes": ..., "hours": ...}}, by the
  // CLDR plural category that Intl.PluralRules gives for the page's language);
  // the server enforces the wait either way.
  function sayWait(el, units, seconds) {
    var upTo = parseInt(el.getAttribute("data-countdown-minutes-up-to"), 10);
    var unit, count;
    if (seconds < 60) { count = seconds; unit = "seconds"; }
    else if (seconds <= upTo) { count = Math.ceil(seconds / 60); unit = "minutes"; }
    else { count = Math.ceil(seconds / 3600); unit = "hours"; }
    var forms = units.forms[unit];
    var category = "other";
    try { category = new Intl.PluralRules(document.documentElement.lang || "en").select(count); }
    catch (e) { /* an unknown tag: "other" */ }
    var words = forms[category] || forms.other;
    var lang = document.documentElement.lang || "en";
    var number = String(count);
    try { number = new Intl.NumberFormat(lang).format(count); } catch (e) { /* digits as is */ }
    return words.replace("{count}", number);
  }

  function startCountdowns(root) {
    if (!root.querySelectorAll) return;
    root.querySelectorAll("[data-countdown]").forEach(function (el) {
      if (el.dataset.counting) return;
      el.dataset.counting = "1";
      var units = JSON.parse(el.getAttribute("data-countdown-units"));
      var text = el.getAttribute("data-countdown-text");
      var button = document.getElementById(el.getAttribute("data-countdown-button"));
      var end = Date.now() + 1000 * parseInt(el.getAttribute("data-countdown"), 10);
      // Announced once, when the wait is over, not every second.
      el.setAttribute("aria-live", "off");
      if (button) button.disabled = true;
      function tick() {
        if (!el.isConnected) { clearInterval(timer); return; }
        var left = Math.ceil((end - Date.now()) / 1000);
        if (left > 0) {
          var words = text.replace("{wait}", sayWait(el, units, left));
          if (el.textContent !== words) el.textContent = words;
          return;
        }
        clearInterval(timer);
        el.setAttribute("aria-live", "polite");
        el.textContent = el.getAttribute("data-countdown-done");
        if (button && button.isConnected) button.disabled = false;
      }
      var timer = setInterval(tick, 250);
      tick();
    });
  }

  // "Print" (data-print, the recovery codes panel): shown only where this
  // script runs, as it needs window.print(); the page's print styles show
  // only the codes. No inline script (the Content-Security-Policy forbids it).
  function setupPrint(root) {
    if (!root.querySelectorAll || !window.print) return;
    root.querySelectorAll("[data-print]").forEach(function (button) {
      button.hidden = false;
      if (button.dataset.ready) return;
      button.dataset.ready = "1";
      button.addEventListener("click", function () { window.print(); });
    });
  }

  // After htmx swaps a panel in, move focus to its first field with an error
  // (aria-invalid, whose message aria-describedby reads out; the message itself
  // is role=alert, announced as it appears), else its first field; failing
  // that to its message or heading, so that keyboard focus is never lost on
  // <body>. The same rule as autofocus in whole pages (focus goes to the first invalid field).
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
  // The row of "Recent security activity" that an htmx reply prepends comes
  // without data-label (figure 3: the reply stays small); each cell gets its
  // column's heading, which style.css shows before the value on narrow screens.
  function labelActivity() {
    var section = document.getElementById("security-activity");
    var table = section && section.querySelector("table");
    if (!table || !table.tHead || !table.tBodies.length) return;
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      Array.prototype.forEach.call(row.cells, function (td) {
        var th = heads[td.cellIndex];
        if (th && !td.hasAttribute("data-label")) td.setAttribute("data-label", th.textContent);
      });
    });
  }

  document.addEventListener("htmx:after:swap", function (e) {
    var root = swapped(e);
    labelActivity();
    addCopyButtons(root);
    setupPrint(root);
    startCountdowns(root);
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
    setupPrint(document);
    startCountdowns(document);
  });
})();
