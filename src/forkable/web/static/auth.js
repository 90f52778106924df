// Sign-up and login forms: post JSON to the API, show errors inline, then go on.
"use strict";

(() => {
  const { api, showError } = window.Forkable;

  // Show/hide buttons next to password fields.
  for (const toggle of document.querySelectorAll("[data-toggle-password]")) {
    const input = document.getElementById(toggle.getAttribute("aria-controls"));
    const word = toggle.firstChild; // the visible "Show"/"Hide" text node
    toggle.addEventListener("click", () => {
      const showing = input.type === "text";
      input.type = showing ? "password" : "text";
      word.textContent = showing ? "Show" : "Hide";
    });
  }

  /**
   * Where to go after signing in: a page of this site, else ``fallback``.
   *
   * Browsers drop tabs and newlines from URLs and read a backslash as "/", so
   * ?next=/%09/evil.example and ?next=/%5Cevil.example lead to //evil.example: refuse control
   * characters and backslashes outright, then let the URL parser resolve the rest, and keep
   * it only when it stays on this origin.
   */
  function safeNext(value, fallback) {
    if (!value || !value.startsWith("/") || /[\u0000-\u001f\u007f\\]/.test(value)) return fallback;
    let url;
    try {
      url = new URL(value, window.location.origin);
    } catch {
      return fallback;
    }
    if (url.origin !== window.location.origin) return fallback;
    return url.pathname + url.search + url.hash;
  }

  const form = document.querySelector("[data-auth-form]");
  if (!form) return;
  const errorRegion = form.querySelector("[data-form-error]");
  const submit = form.querySelector("[data-submit]");
  const email = form.elements.namedItem("email");
  const password = form.elements.namedItem("password");
  const minPassword = Number(form.dataset.minPassword || 0);

  function markInvalid(field, message) {
    for (const input of [email, password]) input.removeAttribute("aria-invalid");
    showError(errorRegion, message);
    if (field) {
      field.setAttribute("aria-invalid", "true");
      field.focus();
    }
  }

  function check() {
    const address = email.value.trim();
    if (!address) return [email, "Enter your e-mail address."];
    if (!/^[^\s@]+@[^\s@]+$/.test(address)) return [email, "Enter a valid e-mail address, like name@example.com."];
    if (!password.value) return [password, "Enter your password."];
    if (minPassword && password.value.length < minPassword) {
      return [password, `Use at least ${minPassword} characters for your password.`];
    }
    return null;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const problem = check();
    if (problem) {
      markInvalid(...problem);
      return;
    }
    markInvalid(null, "");
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      await api(form.dataset.endpoint, {
        method: "POST",
        json: { email: email.value.trim(), password: password.value },
      });
      const fallback = form.dataset.next || "/app";
      const next = "followNext" in form.dataset
        ? safeNext(new URLSearchParams(window.location.search).get("next"), fallback)
        : fallback;
      window.location.assign(next);
    } catch (error) {
      const field = { invalid_email: email, email_taken: email, weak_password: password, invalid_credentials: password }[error.code];
      markInvalid(field ?? null, error.message);
      submit.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
})();
