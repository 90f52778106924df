// The "Your data" section of /account: delete the account after a second, explicit step.
"use strict";

// This script is loaded from the page's body, before forkable.js (both deferred): it starts
// once every deferred script has run.
document.addEventListener("DOMContentLoaded", () => {
  const { api, showError } = window.Forkable;
  const section = document.querySelector("[data-account-data]");
  if (!section) return;
  const start = section.querySelector("[data-delete-start]");
  const form = section.querySelector("[data-delete-form]");
  const cancel = section.querySelector("[data-delete-cancel]");
  const error = section.querySelector("[data-delete-error]");
  const submit = form.querySelector("[data-submit]");

  start.addEventListener("click", () => {
    form.hidden = false;
    start.hidden = true;
    form.querySelector("input[type=password]").focus();
  });
  cancel.addEventListener("click", () => {
    form.hidden = true;
    start.hidden = false;
    form.reset();
    showError(error, "");
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, "");
    const password = form.elements.password.value;
    if (!password) return showError(error, "Enter your password.");
    if (!form.elements.confirm.checked) {
      return showError(error, "Tick the box to confirm that you want your account deleted.");
    }
    submit.disabled = true;
    try {
      await api("/api/v1/me", { method: "DELETE", json: { password } });
      window.location.assign("/account/deleted");
    } catch (failure) {
      showError(error, failure.message);
      submit.disabled = false;
    }
  });
});
