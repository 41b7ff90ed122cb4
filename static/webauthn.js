// Security keys and passkeys (WebAuthn Level 3): a form that carries an empty
// `credential` field, on a page holding <script type="application/json"
// id="webauthn-options">, asks the browser for a credential when sent, and
// posts its answer as credential.toJSON(). Creation options (they name a
// user) create a key; request options sign in with one. No words live here:
// the messages are data attributes of the options element. The server checks
// everything; without JavaScript the empty field gets the server's message,
// and the page says so from the start (data-webauthn-nojs).
(function () {
  "use strict";

  function optionsElement() {
    return document.getElementById("webauthn-options");
  }

  function showError(text) {
    var box = document.getElementById("webauthn-error");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
  }

  function message(el, error) {
    if (!window.PublicKeyCredential || !navigator.credentials) return el.dataset.unsupported;
    if (error && error.name === "NotAllowedError") return el.dataset.cancelled;
    if (error && error.name === "AbortError") return el.dataset.cancelled;
    if (error && error.name === "InvalidStateError") return el.dataset.known;
    return el.dataset.failed;
  }

  function ask(el) {
    var json = JSON.parse(el.textContent);
    var PKC = window.PublicKeyCredential;
    if (json.user) {
      return navigator.credentials.create({publicKey: PKC.parseCreationOptionsFromJSON(json)});
    }
    return navigator.credentials.get({publicKey: PKC.parseRequestOptionsFromJSON(json)});
  }

  // The sentence "Security keys need JavaScript" is in the page for browsers
  // without it: here it goes away, or says that this browser has no WebAuthn
  // (data-unsupported of the element or of the closest element around it that
  // has one; htmx replies leave the sentence empty and the words to the page).
  function explain() {
    var supported = window.PublicKeyCredential && navigator.credentials &&
      window.PublicKeyCredential.parseRequestOptionsFromJSON;
    document.querySelectorAll("[data-webauthn-nojs]").forEach(function (el) {
      var words = el.closest("[data-unsupported]");
      if (supported) el.hidden = true;
      else el.textContent = words ? words.dataset.unsupported : "";
    });
  }
  document.addEventListener("DOMContentLoaded", explain);
  document.addEventListener("htmx:after:swap", explain);

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var field = form.querySelector && form.querySelector("input[name='credential']");
    var el = optionsElement();
    if (!field || field.value || !el) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    var PKC = window.PublicKeyCredential;
    if (!PKC || !PKC.parseRequestOptionsFromJSON || !navigator.credentials) {
      showError(message(el, null));
      return;
    }
    var nameField = form.querySelector("input[name='name']");
    if (nameField && !nameField.value.trim()) {
      form.submit();  // the server says the name is missing
      return;
    }
    ask(el).then(function (credential) {
      if (!credential) throw new Error("no credential");
      field.value = JSON.stringify(credential.toJSON());
      form.submit();
    }).catch(function (error) {
      showError(message(el, error));
    });
  }, true);
})();
