// Reflexio Admin console: the few behaviours htmx attributes cannot express.
// No inline handlers anywhere (the CSP forbids them); everything hooks in here.
(function () {
  "use strict";

  // Time-range forms: preselect the browser's time zone, keep the note in sync.
  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    } catch (error) {
      return "UTC";
    }
  }

  function showZone(select) {
    const form = select.form || document;
    form.querySelectorAll("[data-tz-label]").forEach(function (label) {
      label.textContent = select.value || "UTC";
    });
  }

  function initZones(root) {
    root.querySelectorAll("select[data-browser-zone]").forEach(function (select) {
      if (select.dataset.browserZone === "auto") {
        const zone = browserZone();
        if (Array.prototype.some.call(select.options, (o) => o.value === zone)) {
          select.value = zone;
        }
        select.dataset.browserZone = "set";
      }
      showZone(select);
      if (!select.dataset.tzBound) {
        select.dataset.tzBound = "1";
        select.addEventListener("change", function () { showZone(select); });
      }
    });
  }

  // Show errors of htmx requests (403, 500, network) instead of failing silently.
  function showError(text) {
    const box = document.getElementById("messages");
    if (!box) return;
    const message = document.createElement("p");
    message.className = "message message-error";
    message.textContent = text;
    box.replaceChildren(message);
    box.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("htmx:responseError", function (event) {
    const status = event.detail.xhr.status;
    if (status === 403) {
      showError("Your role does not allow this action.");
    } else {
      showError("The server could not complete this request (HTTP " + status + ").");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    showError("The server could not be reached. Check your connection and try again.");
  });

  // A page that shows more than the progress bar reloads once its run ends.
  document.addEventListener("htmx:afterRequest", function (event) {
    const xhr = event.detail.xhr;
    if (xhr && xhr.status === 286 && event.detail.elt.closest("[data-reload-on-finish]")) {
      window.location.reload();
    }
  });

  document.addEventListener("DOMContentLoaded", function () { initZones(document); });
  document.addEventListener("htmx:load", function (event) { initZones(event.detail.elt); });
})();
