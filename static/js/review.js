// The review page: set many decisions at once and count what is chosen.
// Without JavaScript every radio still works; this only saves clicks.
(function () {
  "use strict";

  function radios(form) {
    return Array.prototype.filter.call(
      document.querySelectorAll("input[type=radio][form='" + form.id + "']"),
      function (input) { return !input.closest(".review-unchanged"); }
    );
  }

  function countChosen(form) {
    const names = new Set();
    document.querySelectorAll("input[type=radio][form='" + form.id + "']:checked").forEach(
      function (input) { if (input.value) names.add(input.name); }
    );
    const label = document.querySelector("[data-review-chosen]");
    if (label) {
      label.textContent = names.size ? names.size + " decision" + (names.size === 1 ? "" : "s") + " chosen" : "";
    }
  }

  function init() {
    const form = document.getElementById("decisions-form");
    if (!form) return;
    const group = document.querySelector("[data-review-bulk-group]");
    if (group) group.hidden = false;
    document.querySelectorAll("[data-review-bulk]").forEach(function (button) {
      button.addEventListener("click", function () {
        const wanted = button.dataset.reviewBulk;
        radios(form).forEach(function (input) {
          // "accept" and "reject" apply to pending items; "later" to all.
          if (input.value === wanted) input.checked = true;
        });
        countChosen(form);
      });
    });
    document.addEventListener("change", function (event) {
      if (event.target.matches && event.target.matches("input[type=radio][form='" + form.id + "']")) {
        countChosen(form);
      }
    });
    countChosen(form);
  }

  document.addEventListener("DOMContentLoaded", init);
})();
