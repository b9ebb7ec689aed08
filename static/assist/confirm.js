// Confirmation before a destructive form is submitted: any <form data-confirm="question"> opens the
// page's "Please confirm" dialog (templates/base.html) with that question; the dialog's confirm button
// says data-confirm-button (default "Confirm"). "Cancel" or Escape keeps the page as it is. Without
// JavaScript the form submits directly; the server still checks permissions.
(function () {
  "use strict";
  var dialog = document.getElementById("confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return;
  var message = document.getElementById("confirm-message");
  var yes = document.getElementById("confirm-yes");
  var no = document.getElementById("confirm-no");
  var pending = null; // { form, submitter }

  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) return;
      if (form.dataset.confirmed === "yes") {
        delete form.dataset.confirmed;
        return;
      }
      event.preventDefault();
      event.stopImmediatePropagation();
      pending = { form: form, submitter: event.submitter || null };
      message.textContent = form.getAttribute("data-confirm");
      yes.textContent = form.getAttribute("data-confirm-button") || "Confirm";
      dialog.showModal();
      no.focus(); // the safe choice has the focus
    },
    true
  );

  yes.addEventListener("click", function () {
    var chosen = pending;
    pending = null;
    dialog.close();
    if (!chosen) return;
    chosen.form.dataset.confirmed = "yes";
    if (chosen.submitter) chosen.form.requestSubmit(chosen.submitter);
    else chosen.form.requestSubmit();
  });
  no.addEventListener("click", function () {
    pending = null;
    dialog.close();
  });
  dialog.addEventListener("close", function () {
    pending = null;
  });
})();
