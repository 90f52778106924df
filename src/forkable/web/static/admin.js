// The admin console works without JavaScript; this only asks before actions that are hard to undo
// (forms with `data-confirm`) and keeps a form from being sent twice by a double click.
"use strict";

(() => {
  for (const form of document.querySelectorAll("form[data-confirm], form.action-form, form.mini-form")) {
    form.addEventListener("submit", (event) => {
      const question = form.dataset.confirm;
      if (question && !window.confirm(question)) {
        event.preventDefault();
        return;
      }
      for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = true;
    });
  }
  // Coming back with the Back button restores the page as it was: buttons must work again.
  window.addEventListener("pageshow", () => {
    for (const button of document.querySelectorAll("form button[type=submit]")) button.disabled = false;
  });
})();
