// The /account page: token history, API keys (create, show once, copy, revoke).
"use strict";

(() => {
  const { api, formatDate, showError, setBalance } = window.Forkable;
  const $ = (root, selector) => root.querySelector(selector);

  const LEDGER_LABELS = {
    signup_bonus: "Sign-up bonus",
    purchase: "Tokens bought",
    generation_hold: "Image started",
    generation_capture: "Image made",
    generation_void: "Refund: image failed",
    admin_grant: "Added by support",
    clawback: "Payment refunded",
  };

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function signed(amount) {
    if (amount > 0) return `+${amount}`;
    if (amount < 0) return `−${Math.abs(amount)}`; // a real minus sign
    return "0";
  }

  // --- balance and token history --------------------------------------------------
  const available = $(document, "[data-account-available]");
  const held = $(document, "[data-account-held]");
  const ledgerBody = $(document, "[data-ledger-body]");
  const ledgerEmpty = $(document, "[data-ledger-empty]");
  const ledgerError = $(document, "[data-ledger-error]");

  async function loadBalance() {
    try {
      const me = await api("/api/v1/me");
      available.textContent = String(me.balance);
      held.textContent = String(me.held);
      setBalance(me.balance);
    } catch {
      // The numbers rendered with the page stay; the ledger below reports errors.
    }
  }

  async function loadLedger() {
    try {
      const entries = await api("/api/v1/ledger");
      ledgerBody.replaceChildren();
      for (const entry of entries) {
        const row = ledgerBody.insertRow();
        row.dataset.kind = entry.kind;
        cell(row, formatDate(entry.created_at), "cell-date");
        cell(row, LEDGER_LABELS[entry.kind] ?? entry.kind.replaceAll("_", " "), "cell-what");
        const change = cell(row, signed(entry.amount), "num cell-change");
        change.classList.add(entry.amount > 0 ? "amount-plus" : entry.amount < 0 ? "amount-minus" : "amount-zero");
        cell(row, String(entry.balance_after), "num cell-after").dataset.label = "Tokens after:";
      }
      ledgerEmpty.hidden = entries.length > 0;
    } catch (error) {
      showError(ledgerError, `Your token history could not be loaded. ${error.message}`);
    }
  }

  // --- purchases (receipts) --------------------------------------------------------
  const PURCHASE_STATUS = {
    pending: "Not paid",
    processing: "Payment processing",
    paid: "Paid",
    failed: "Payment failed",
    expired: "Checkout expired",
    refunded: "Refunded",
    disputed: "Disputed",
  };
  const purchasesBody = $(document, "[data-purchases-body]");
  const purchasesEmpty = $(document, "[data-purchases-empty]");
  const purchasesError = $(document, "[data-purchases-error]");

  function money(cents, currency) {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).format(cents / 100);
    } catch {
      return `${(cents / 100).toFixed(2)} ${currency.toUpperCase()}`;
    }
  }

  async function loadPurchases() {
    try {
      const purchases = await api("/api/v1/purchases");
      purchasesBody.replaceChildren();
      for (const purchase of purchases) {
        const row = purchasesBody.insertRow();
        row.dataset.status = purchase.status;
        cell(row, formatDate(purchase.created_at), "cell-date");
        cell(row, `${purchase.pack_name} (${purchase.tokens} tokens)`, "cell-what");
        cell(row, money(purchase.amount_cents, purchase.currency), "num");
        cell(row, PURCHASE_STATUS[purchase.status] ?? purchase.status, "cell-status");
      }
      purchasesEmpty.hidden = purchases.length > 0;
    } catch (error) {
      showError(purchasesError, `Your purchases could not be loaded. ${error.message}`);
    }
  }

  // --- API keys -------------------------------------------------------------------
  const keyForm = $(document, "[data-key-form]");
  const keyName = keyForm.elements.namedItem("name");
  const keyError = $(keyForm, "[data-key-error]");
  const createButton = $(keyForm, "[data-submit]");
  const newKey = $(document, "[data-new-key]");
  const newKeyValue = $(newKey, "[data-new-key-value]");
  const copyButton = $(newKey, "[data-copy-key]");
  const copyStatus = $(newKey, "[data-copy-status]");
  const dismissButton = $(newKey, "[data-dismiss-key]");
  const keysBody = $(document, "[data-keys-body]");
  const keysEmpty = $(document, "[data-keys-empty]");
  const keysTable = keysBody.closest("table");
  let shownKeyId = null; // the key whose secret is on screen

  function hideNewKey() {
    newKeyValue.textContent = ""; // gone for good: it cannot be shown again
    newKey.hidden = true;
    shownKeyId = null;
  }

  function updateKeysEmpty() {
    const none = keysBody.rows.length === 0;
    keysEmpty.hidden = !none;
    keysTable.hidden = none;
  }

  function addKeyRow(key, { prepend = false } = {}) {
    const row = keysBody.insertRow(prepend ? 0 : -1);
    row.dataset.id = key.id;
    row.dataset.testid = "key-row";
    cell(row, key.name, "cell-name");
    const prefix = cell(row, "", "cell-prefix");
    const code = document.createElement("code");
    code.textContent = `${key.prefix}…`;
    prefix.append(code);
    cell(row, formatDate(key.created_at), "cell-created").dataset.label = "Created";
    cell(row, key.last_used_at ? formatDate(key.last_used_at) : "Never", "cell-used").dataset.label = "Last used";
    const actions = row.insertCell();
    actions.className = "actions cell-actions";
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "button button-small button-danger";
    revoke.dataset.testid = "revoke-key";
    revoke.textContent = "Revoke";
    revoke.setAttribute("aria-label", `Revoke key “${key.name}”`);
    revoke.addEventListener("click", () => revokeKey(key, row, revoke));
    actions.append(revoke);
  }

  async function loadKeys() {
    try {
      const keys = await api("/api/v1/api-keys");
      keysBody.replaceChildren();
      for (const key of keys) addKeyRow(key);
    } catch (error) {
      showError(keyError, `Your API keys could not be loaded. ${error.message}`);
    } finally {
      updateKeysEmpty();
    }
  }

  keyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(keyError, "");
    createButton.disabled = true;
    try {
      const created = await api("/api/v1/api-keys", {
        method: "POST",
        json: { name: keyName.value.trim() || "API key" },
      });
      addKeyRow(created, { prepend: true });
      updateKeysEmpty();
      newKeyValue.textContent = created.key;
      shownKeyId = created.id;
      copyStatus.textContent = "";
      newKey.hidden = false;
      newKey.focus();
      keyName.value = "";
    } catch (error) {
      showError(keyError, error.message);
    } finally {
      createButton.disabled = false;
    }
  });

  function selectKeyText() {
    const range = document.createRange();
    range.selectNodeContents(newKeyValue);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  copyButton.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(newKeyValue.textContent);
      copyStatus.textContent = "Copied to the clipboard.";
    } catch {
      // No clipboard access (plain http, or denied): select it for a manual copy.
      selectKeyText();
      copyStatus.textContent = "Press Ctrl+C (or ⌘+C) to copy the selected key.";
    }
  });

  dismissButton.addEventListener("click", () => {
    hideNewKey();
    keyName.focus();
  });

  async function revokeKey(key, row, button) {
    if (!window.confirm(`Revoke the key “${key.name}”? Programs using it stop working at once.`)) return;
    showError(keyError, "");
    button.disabled = true;
    try {
      await api(`/api/v1/api-keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
      row.remove();
      updateKeysEmpty();
      if (shownKeyId === key.id) hideNewKey();
      keyName.focus();
    } catch (error) {
      showError(keyError, error.message);
      button.disabled = false;
    }
  }

  loadBalance();
  loadPurchases();
  loadLedger();
  loadKeys();
})();
