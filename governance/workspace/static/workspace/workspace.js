/* mlgov workspace: small progressive enhancement, no framework, no inline handlers (strict CSP).
 *
 * - [data-poll-url]: while the element holds something [data-pending], fetch the URL every
 *   2 s and replace the element's content with the answer (job progress: packs, verifications).
 * - button[data-set-name][data-set-value]: before the form submits, set the form's field named
 *   data-set-name to data-set-value (one form, two decisions: approve / reject).
 * - form[data-confirm]: ask before submitting.
 */
(function () {
  "use strict";

  function poll(el) {
    var url = el.getAttribute("data-poll-url");
    var timer = window.setInterval(function () {
      if (!el.querySelector("[data-pending]")) {
        window.clearInterval(timer);
        return;
      }
      window.fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { el.innerHTML = html; })
        .catch(function () { /* keep the last state; the next tick retries */ });
    }, 2000);
  }

  function init() {
    document.querySelectorAll("[data-poll-url]").forEach(poll);
    document.querySelectorAll("button[data-set-name]").forEach(function (button) {
      button.addEventListener("click", function () {
        var field = button.form && button.form.elements[button.getAttribute("data-set-name")];
        if (field) { field.value = button.getAttribute("data-set-value"); }
      });
    });
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
