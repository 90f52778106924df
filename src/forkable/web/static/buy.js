// Buying tokens: start a checkout, pay in demo mode, and wait for the credit on return.
"use strict";

(() => {
  const { api, showError, refreshBalance, tokens } = window.Forkable;
  const errorRegion = document.querySelector("[data-buy-error]");

  // The packs page: each Buy button starts a checkout and follows its URL.
  for (const button of document.querySelectorAll("[data-buy-pack]")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      showError(errorRegion, "");
      try {
        const started = await api("/api/v1/checkout", { method: "POST", json: { pack_id: button.dataset.buyPack } });
        window.location.assign(started.checkout_url);
      } catch (error) {
        showError(errorRegion, error.message);
        button.disabled = false;
      }
    });
  }

  // Demo checkout: pay instantly through the same crediting path, then show the result.
  const demo = document.querySelector("[data-demo-checkout]");
  const payButton = document.querySelector("[data-demo-pay]");
  if (demo && payButton) {
    payButton.addEventListener("click", async () => {
      payButton.disabled = true;
      showError(errorRegion, "");
      const id = demo.dataset.purchaseId;
      try {
        await api(`/api/v1/demo/purchases/${encodeURIComponent(id)}/complete`, { method: "POST" });
        window.location.assign(`/buy/success?purchase=${encodeURIComponent(id)}`);
      } catch (error) {
        showError(errorRegion, error.message);
        payButton.disabled = false;
      }
    });
  }

  // The return from checkout: poll the purchase until the credit lands, without reloading.
  const success = document.querySelector("[data-buy-success]");
  if (success) {
    const id = success.dataset.purchaseId;
    const message = success.querySelector("[data-success-message]");
    const pending = new Set(["pending", "processing"]);
    let status = success.dataset.purchaseStatus;
    let delay = 1000;
    const poll = async () => {
      try {
        const purchase = await api(`/api/v1/purchases/${encodeURIComponent(id)}`);
        status = purchase.status;
        if (status === "paid") {
          message.textContent = `Your ${tokens(purchase.tokens)} have arrived.`;
          await refreshBalance();
          return;
        }
        if (!pending.has(status)) {
          message.textContent = "This payment did not go through, and nothing was charged.";
          return;
        }
      } catch {
        // keep waiting: a brief network problem must not hide a payment that landed
      }
      delay = Math.min(delay * 1.5, 10000);
      window.setTimeout(poll, delay);
    };
    if (pending.has(status)) window.setTimeout(poll, delay);
  }
})();
