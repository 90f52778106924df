// Shared helpers for the signed-in pages and the auth forms: JSON API calls with the
// CSRF header, readable error messages, and the header's balance chip.
"use strict";

window.Forkable = (() => {
  const NETWORK_MESSAGE = "Could not reach the server. Check your connection and try again.";

  class ApiError extends Error {
    constructor(status, code, message, retryAfter = null) {
      super(message);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter;
    }
  }

  function csrfToken() {
    return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
  }

  function fallbackMessage(status) {
    if (status === 401) return "Please log in again.";
    if (status === 403) return "This is not allowed. Reload the page and try again.";
    if (status === 404) return "This could not be found. It may have been deleted.";
    if (status === 413) return "The file is too large.";
    if (status === 429) return "Too many requests. Please wait a moment and try again.";
    if (status >= 500) return "Something went wrong on our side. Please try again.";
    return "Something went wrong. Please try again.";
  }

  /**
   * Call the JSON API. `json` is sent as a JSON body, `body` (e.g. FormData) as is.
   * Resolves to the parsed JSON (or null for 204); rejects with an ApiError whose
   * message can be shown to the visitor.
   */
  async function api(path, { method = "GET", json, body, headers = {} } = {}) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
    if (!["GET", "HEAD"].includes(method)) {
      const token = csrfToken();
      if (token) init.headers["X-CSRF-Token"] = token;
    }
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    } else if (body !== undefined) {
      init.body = body;
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new ApiError(0, "network", NETWORK_MESSAGE);
    }
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const error = data?.error ?? {};
      // The session ended (expired, or logged out in another tab): log in again, then come back.
      if (response.status === 401 && error.code === "unauthorized" && csrfToken()) {
        window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
      }
      throw new ApiError(
        response.status,
        error.code ?? `http_${response.status}`,
        error.message ?? fallbackMessage(response.status),
        response.headers.get("Retry-After"),
      );
    }
    return data;
  }

  /** A random id for the Idempotency-Key header (randomUUID needs a secure context). */
  function randomId() {
    if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function plural(count, one, many) {
    return `${count} ${count === 1 ? one : many}`;
  }

  const tokens = (count) => plural(count, "token", "tokens");

  /** Show a new balance in the header chip and in any `[data-balance-text]` on the page. */
  function setBalance(available) {
    const chip = document.getElementById("balance-chip");
    if (chip) {
      chip.textContent = tokens(available);
      chip.dataset.balance = String(available);
    }
    for (const element of document.querySelectorAll("[data-balance-text]")) {
      element.textContent = tokens(available);
    }
    document.dispatchEvent(new CustomEvent("forkable:balance", { detail: { available } }));
  }

  /** Fetch /me and update the balance everywhere; resolves to the user (or null on error). */
  async function refreshBalance() {
    try {
      const me = await api("/api/v1/me");
      setBalance(me.balance);
      return me;
    } catch {
      return null;
    }
  }

  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function formatDate(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? "" : dateFormat.format(date);
  }

  /** Put a message in an error region (an empty message clears it). */
  function showError(region, message) {
    if (region) region.textContent = message ?? "";
  }

  return { ApiError, api, csrfToken, randomId, plural, tokens, setBalance, refreshBalance, formatDate, showError };
})();
