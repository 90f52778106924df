// The /app page: choose a photo (file input or drag and drop), send it, follow its
// progress, show the result, list the visitor's earlier images, and make a printable
// coloring book (one PDF) of several of them.
"use strict";

(() => {
  const { api, csrfToken, randomId, refreshBalance, formatDate, showError } = window.Forkable;

  const POLL_MS = 800;
  // Images followed by a stream of events at once; more are polled. A browser opens at most
  // six connections to one host, and the page needs some for everything else.
  const STREAMS_AT_ONCE = 2;
  const GIVE_UP_MS = 10 * 60 * 1000;
  const MAX_POLL_FAILURES = 8;
  const PAGE_SIZE = 12;
  const ACCEPTED_TYPES = new Set(["image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"]);
  const ACCEPTED_NAMES = /\.(jpe?g|png|webp|heic|heif)$/i;
  const STAGES = ["queued", "running", "succeeded"];
  const STATUS_TEXT = {
    queued: "Queued: your image is next in line.",
    running: "Making your image…",
    succeeded: "Done! Your image is ready.",
    failed: "This image could not be made.",
  };
  const BADGES = { queued: "Queued", running: "Making…", failed: "Failed" };
  const MAX_BOOK_PAGES = 50;
  // Where Letter is the usual paper; everywhere else prints on A4.
  const LETTER_REGIONS = new Set(["US", "CA", "MX", "PH", "CL", "CO", "VE", "GT", "CR", "PA", "DO", "PR", "SV", "NI", "BZ"]);
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  const $ = (root, selector) => root.querySelector(selector);
  const isPending = (status) => status === "queued" || status === "running";

  // --- elements -------------------------------------------------------------------
  const form = $(document, "[data-upload-form]");
  if (!form) return;
  const fileInput = $(form, "[data-file-input]");
  const dropzone = $(form, "[data-dropzone]");
  const preview = $(form, "[data-preview]");
  const previewImage = $(form, "[data-preview-image]");
  const previewMissing = $(form, "[data-preview-missing]");
  const previewName = $(form, "[data-preview-name]");
  const uploadError = $(form, "[data-upload-error]");
  const submitButton = $(form, "[data-submit]");
  const outOfTokens = $(form, "[data-out-of-tokens]");
  const cost = Number(form.dataset.cost);
  const maxMb = Number(form.dataset.maxMb);

  const panel = $(document, "[data-result-panel]");
  const panelTitle = $(panel, "#result-title");
  const panelEmpty = $(panel, "[data-result-empty]");
  const stages = $(panel, "[data-stages]");
  const progressBar = $(panel, "[data-progress-bar]");
  const working = $(panel, "[data-working]");
  const workingImage = $(panel, "[data-working-image]");
  const statusText = $(panel, "[data-status-text]");
  const resultError = $(panel, "[data-result-error]");
  const resultFigure = $(panel, "[data-result]");
  const resultImage = $(panel, "[data-result-image]");
  const resultActions = $(panel, "[data-result-actions]");
  const downloadLink = $(panel, "[data-download]");
  const downloadPdf = $(panel, "[data-download-pdf]");
  const printButton = $(panel, "[data-print]");

  const history = $(document, "[data-history]");
  const historyTitle = $(history, "#history-title");
  const historyGrid = $(history, "[data-history-grid]");
  const historyEmpty = $(history, "[data-history-empty]");
  const historyError = $(history, "[data-history-error]");
  const historyStatus = $(history, "[data-history-status]");
  const loadMore = $(history, "[data-load-more]");
  const itemTemplate = $(document, "[data-history-template]");
  const bookForm = $(history, "[data-book-form]");
  const bookTitle = $(bookForm, "[data-book-title]");
  const paperSelect = $(bookForm, "[data-paper]");
  const bookSubmit = $(bookForm, "[data-book-submit]");
  const bookCount = $(bookForm, "[data-book-count]");
  const bookError = $(bookForm, "[data-book-error]");

  const styleLabels = new Map(
    Array.from(form.querySelectorAll('input[name="style"]'), (radio) => [radio.value, radio.dataset.styleLabel]),
  );

  // --- state ----------------------------------------------------------------------
  let chosen = null; // the File to send
  let previewUrl = null;
  let idempotencyKey = randomId(); // one per photo+style, so a retried submit is not charged twice
  let busy = false;
  let current = null; // id of the generation shown in the panel
  let nextCursor = null;
  const items = new Map(); // id -> { li, generation }
  const watching = new Set();
  let streams = 0; // open event streams (see STREAMS_AT_ONCE)
  const picked = new Set(); // ids for the book, in the order they were ticked
  let makingBook = false;

  // --- choosing a photo -----------------------------------------------------------
  function formatSize(bytes) {
    if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
    return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  }

  function checkFile(file) {
    const untyped = file.type === "" || file.type === "application/octet-stream";
    if (!ACCEPTED_TYPES.has(file.type) && !(untyped && ACCEPTED_NAMES.test(file.name))) {
      return `“${file.name}” is not a photo we can use. Choose a JPEG, PNG, WebP or HEIC image.`;
    }
    if (file.size === 0) return "This file is empty. Choose another photo.";
    if (file.size > maxMb * 1024 * 1024) {
      return `This photo is ${formatSize(file.size)}; the limit is ${maxMb} MB. Choose a smaller photo.`;
    }
    return null;
  }

  function clearChoice() {
    chosen = null;
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    previewImage.removeAttribute("src");
    preview.hidden = true;
    dropzone.classList.remove("has-file");
  }

  function choose(file) {
    showError(uploadError, "");
    const problem = checkFile(file);
    if (problem) {
      clearChoice();
      fileInput.value = "";
      showError(uploadError, problem);
      return;
    }
    chosen = file;
    idempotencyKey = randomId();
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(file);
    previewImage.hidden = false;
    previewMissing.hidden = true;
    previewImage.src = previewUrl;
    previewName.textContent = `${file.name} · ${formatSize(file.size)}`;
    preview.hidden = false;
    dropzone.classList.add("has-file");
  }

  // Browsers cannot show every type (HEIC): say so instead of a broken image.
  previewImage.addEventListener("error", () => {
    if (!previewImage.getAttribute("src")) return;
    previewImage.hidden = true;
    previewMissing.hidden = false;
  });

  fileInput.addEventListener("change", () => {
    const file = fileInput.files?.[0];
    if (file) choose(file);
  });

  const hasFiles = (event) => Array.from(event.dataTransfer?.types ?? []).includes("Files");

  for (const type of ["dragenter", "dragover"]) {
    dropzone.addEventListener(type, (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      dropzone.classList.add("is-dragging");
    });
  }
  dropzone.addEventListener("dragleave", (event) => {
    if (!dropzone.contains(event.relatedTarget)) dropzone.classList.remove("is-dragging");
  });
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("is-dragging");
    const file = event.dataTransfer.files?.[0];
    if (file) choose(file);
  });
  // A photo dropped next to the drop zone must not replace the page.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (hasFiles(event) && !dropzone.contains(event.target)) event.preventDefault();
    });
  }

  form.addEventListener("change", (event) => {
    if (event.target.name === "style") idempotencyKey = randomId();
  });

  document.addEventListener("forkable:balance", (event) => {
    outOfTokens.hidden = event.detail.available >= cost;
  });

  // --- the panel: progress and result -----------------------------------------------
  function resetPanel() {
    current = null;
    panel.dataset.state = "idle";
    panelEmpty.hidden = false;
    stages.hidden = true;
    progressBar.hidden = true;
    working.hidden = true;
    workingImage.removeAttribute("src");
    statusText.textContent = "";
    showError(resultError, "");
    resultFigure.hidden = true;
    resultActions.hidden = true;
    resultImage.removeAttribute("src");
  }

  function showStages(status) {
    const reached = STAGES.indexOf(status);
    for (const li of stages.children) {
      const index = STAGES.indexOf(li.dataset.stage);
      const done = index < reached || status === "succeeded";
      li.classList.toggle("is-done", done);
      li.classList.toggle("is-current", index === reached && !done);
      if (index === reached) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
    }
  }

  function statusMessage(generation) {
    const position = generation.queue_position;
    if (generation.status === "queued" && position > 1) {
      const ahead = position - 1;
      return `Queued: ${ahead} ${ahead === 1 ? "image" : "images"} ahead of yours.`;
    }
    return STATUS_TEXT[generation.status] ?? "";
  }

  function showInPanel(generation) {
    const { status } = generation;
    const changed = panel.dataset.state !== status || panel.dataset.id !== generation.id;
    panel.dataset.id = generation.id;
    panel.dataset.state = status;
    panelEmpty.hidden = true;
    stages.hidden = status === "failed";
    const pending = isPending(status);
    progressBar.hidden = !pending;
    if (status !== "failed") showStages(status);
    // While it is being made, show the photo that was sent, faded.
    working.hidden = !(pending && generation.input_url);
    if (pending && generation.input_url && workingImage.getAttribute("src") !== generation.input_url) {
      workingImage.src = generation.input_url;
    }
    const text = statusMessage(generation);
    if (changed || statusText.textContent !== text) statusText.textContent = text;
    showError(resultError, status === "failed" ? generation.error || "Something went wrong. Your tokens were returned." : "");

    const succeeded = status === "succeeded" && generation.result_url;
    resultFigure.hidden = !succeeded;
    resultActions.hidden = !succeeded;
    if (succeeded) {
      if (resultImage.getAttribute("src") !== generation.result_url) resultImage.src = generation.result_url;
      const style = styleLabels.get(generation.style);
      resultImage.alt = style ? `Your finished image (${style})` : "Your finished image";
      downloadLink.href = `${generation.result_url}?download=1`;
      downloadPdf.href = pdfUrl(generation);
    } else {
      resultImage.removeAttribute("src");
    }
  }

  // --- print-ready PDFs and the coloring book ---------------------------------------
  const printable = (generation) => generation.status === "succeeded" && Boolean(generation.result_url);
  const pdfUrl = (generation) => `${generation.result_url}.pdf?paper=${encodeURIComponent(paperSelect.value)}`;

  function defaultPaper() {
    const region = (navigator.language || "").split("-").pop().toUpperCase();
    return LETTER_REGIONS.has(region) ? "letter" : "a4";
  }

  function showPaper() {
    for (const { li, generation } of items.values()) {
      if (printable(generation)) $(li, "[data-item-pdf]").href = pdfUrl(generation);
    }
    const shown = current && items.get(current)?.generation;
    if (shown && printable(shown)) downloadPdf.href = pdfUrl(shown);
  }

  function updateBook() {
    const count = picked.size;
    bookForm.hidden = !Array.from(items.values()).some(({ generation }) => printable(generation));
    if (count === 0) bookCount.textContent = "No images picked yet.";
    else if (count > MAX_BOOK_PAGES) bookCount.textContent = `${count} images picked: a book holds at most ${MAX_BOOK_PAGES}.`;
    else bookCount.textContent = `${count} ${count === 1 ? "image" : "images"} picked: the book will have ${count + 1} pages with its cover.`;
    bookSubmit.disabled = makingBook || count === 0 || count > MAX_BOOK_PAGES;
  }

  /** The file name a Content-Disposition header gives, if any. */
  function attachmentName(header) {
    const found = /filename="([^"]+)"/.exec(header ?? "");
    return found ? found[1] : null;
  }

  /** Hand a downloaded file to the browser, as a link with `download` would. */
  function saveFile(blob, filename) {
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    // Revoked a little later: some browsers still read the URL after the click returns.
    window.setTimeout(() => URL.revokeObjectURL(url), 60 * 1000);
  }

  async function makeBook() {
    showError(bookError, "");
    const title = bookTitle.value.trim();
    if (!title) {
      bookTitle.setAttribute("aria-invalid", "true");
      showError(bookError, "Give your book a title.");
      bookTitle.focus();
      return;
    }
    bookTitle.removeAttribute("aria-invalid");
    makingBook = true;
    bookSubmit.textContent = "Making your book…";
    bookForm.setAttribute("aria-busy", "true");
    updateBook();
    try {
      let response;
      try {
        response = await fetch("/api/v1/books", {
          method: "POST",
          credentials: "same-origin",
          headers: {
            Accept: "application/pdf, application/json",
            "Content-Type": "application/json",
            "X-CSRF-Token": csrfToken(),
          },
          body: JSON.stringify({ title, paper: paperSelect.value, generation_ids: Array.from(picked) }),
        });
      } catch {
        throw new Error("Could not reach the server. Check your connection and try again.");
      }
      if (!response.ok) {
        let message = null;
        try {
          message = (await response.json())?.error?.message ?? null;
        } catch {
          message = null;
        }
        throw new Error(message ?? "The book could not be made. Please try again.");
      }
      const blob = await response.blob();
      const filename = attachmentName(response.headers.get("Content-Disposition")) ?? "coloring-book.pdf";
      saveFile(blob, filename);
      bookCount.textContent = `Your book is ready: ${filename}.`;
    } catch (error) {
      showError(bookError, error.message);
    } finally {
      makingBook = false;
      bookSubmit.textContent = "Make a coloring book";
      bookForm.removeAttribute("aria-busy");
      bookSubmit.disabled = picked.size === 0 || picked.size > MAX_BOOK_PAGES;
    }
  }

  paperSelect.value = defaultPaper();
  paperSelect.addEventListener("change", showPaper);
  bookTitle.addEventListener("input", () => bookTitle.removeAttribute("aria-invalid"));
  bookForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!makingBook) makeBook();
  });

  function bringIntoView(element) {
    const box = element.getBoundingClientRect();
    if (box.top < 0 || box.top > window.innerHeight * 0.6) {
      element.scrollIntoView({ behavior: reducedMotion ? "auto" : "smooth", block: "start" });
    }
  }

  printButton.addEventListener("click", () => window.print());

  // --- following generations ------------------------------------------------------
  function update(generation) {
    upsertItem(generation);
    if (generation.id === current) showInPanel(generation);
  }

  function watch(id) {
    if (watching.has(id)) return;
    watching.add(id);
    if (window.EventSource && streams < STREAMS_AT_ONCE) follow(id);
    else poll(id);
  }

  // The server sends each change of status the moment it happens (Server-Sent Events).
  function follow(id) {
    streams += 1;
    const source = new EventSource(`/api/v1/generations/${encodeURIComponent(id)}/events`);
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      source.close();
      streams -= 1;
    };
    source.addEventListener("status", (event) => {
      if (!items.has(id) && id !== current) {
        close();
        watching.delete(id);
        return;
      }
      const generation = JSON.parse(event.data);
      update(generation);
      if (!isPending(generation.status)) {
        close();
        watching.delete(id);
        refreshBalance();
      }
    });
    source.addEventListener("queue", (event) => {
      const { queue_position } = JSON.parse(event.data);
      const shown = items.get(id)?.generation;
      if (shown && shown.status === "queued") update({ ...shown, queue_position });
    });
    source.addEventListener("error", () => {
      // A stream that ended early is reopened by the browser itself (CONNECTING); one the
      // server refused (404, 429) or that cannot be used is CLOSED: poll instead.
      if (source.readyState === EventSource.CLOSED) {
        close();
        poll(id);
      }
    });
  }

  // The fallback: ask every POLL_MS until the image is done.
  function poll(id) {
    const started = Date.now();
    let failures = 0;

    const stop = (message) => {
      watching.delete(id);
      if (message && id === current) {
        progressBar.hidden = true;
        showError(resultError, message);
      }
    };

    const tick = async () => {
      if (!items.has(id) && id !== current) return stop(); // deleted meanwhile
      let generation;
      try {
        generation = await api(`/api/v1/generations/${encodeURIComponent(id)}`);
      } catch (error) {
        if (error.status === 404) {
          removeItem(id);
          return stop("This image no longer exists.");
        }
        failures += 1;
        if (failures >= MAX_POLL_FAILURES) {
          return stop(`${error.message} Reload the page to see how your image is doing.`);
        }
        window.setTimeout(tick, POLL_MS * 2 ** Math.min(failures, 4));
        return;
      }
      failures = 0;
      update(generation);
      if (!isPending(generation.status)) {
        stop();
        refreshBalance();
        return;
      }
      if (Date.now() - started > GIVE_UP_MS) {
        return stop("This is taking unusually long. Reload the page later to see your image.");
      }
      window.setTimeout(tick, POLL_MS);
    };
    window.setTimeout(tick, POLL_MS);
  }

  // --- sending the photo ----------------------------------------------------------
  function setBusy(value) {
    busy = value;
    submitButton.disabled = value;
    submitButton.textContent = value ? "Sending your photo…" : "Make my image";
    if (value) form.setAttribute("aria-busy", "true");
    else form.removeAttribute("aria-busy");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    showError(uploadError, "");
    if (!chosen) {
      showError(uploadError, "Choose a photo first.");
      fileInput.focus();
      return;
    }
    const problem = checkFile(chosen);
    if (problem) {
      showError(uploadError, problem);
      return;
    }
    const style = form.querySelector('input[name="style"]:checked')?.value ?? null;
    const body = new FormData();
    body.append("image", chosen, chosen.name);
    if (style) body.append("style", style);

    setBusy(true);
    try {
      const submitted = await api("/api/v1/generations", {
        method: "POST",
        body,
        headers: { "Idempotency-Key": idempotencyKey },
      });
      idempotencyKey = randomId();
      const generation = {
        id: submitted.id, status: submitted.status, style, cost: submitted.cost, error: null,
        result_url: null, input_url: `/api/v1/generations/${submitted.id}/input`, created_at: new Date().toISOString(), finished_at: null,
      };
      current = generation.id;
      showInPanel(generation);
      upsertItem(generation, { prepend: true });
      watch(generation.id);
      refreshBalance();
      bringIntoView(panel);
    } catch (error) {
      showError(uploadError, error.message);
      if (error.status === 402) refreshBalance();
    } finally {
      setBusy(false);
    }
  });

  // --- history grid ---------------------------------------------------------------
  function updateEmpty() {
    historyEmpty.hidden = items.size > 0;
    updateBook();
  }

  function renderItem(li, generation) {
    const { status } = generation;
    const date = formatDate(generation.created_at);
    const style = styleLabels.get(generation.style);
    li.dataset.id = generation.id;
    li.dataset.status = status;

    const image = $(li, "[data-item-image]");
    const source = status === "succeeded" ? generation.result_url : generation.input_url;
    if (source && image.getAttribute("src") !== source) image.src = source;
    if (!source) image.removeAttribute("src");
    image.hidden = !source;
    image.alt = status === "succeeded" ? `Image made ${date}` : `Photo sent ${date}`;
    const view = $(li, "[data-item-view]");
    view.classList.toggle("is-pending", status !== "succeeded");
    view.setAttribute("aria-label", `Show the image from ${date}${BADGES[status] ? ` (${BADGES[status]})` : ""} above`);

    const badge = $(li, "[data-item-badge]");
    badge.textContent = BADGES[status] ?? "";
    badge.hidden = !BADGES[status];
    badge.className = `badge badge-${status}`;

    $(li, "[data-item-date]").textContent = date;
    $(li, "[data-item-style]").textContent = style ?? "";
    const error = $(li, "[data-item-error]");
    error.textContent = status === "failed" ? generation.error ?? "" : "";
    error.hidden = status !== "failed";

    // A result past the site's retention has no URL any more: nothing to download.
    const download = $(li, "[data-item-download]");
    const pdf = $(li, "[data-item-pdf]");
    const canPrint = printable(generation);
    download.hidden = !canPrint;
    pdf.hidden = !canPrint;
    if (canPrint) {
      download.href = `${generation.result_url}?download=1`;
      pdf.href = pdfUrl(generation);
      pdf.setAttribute("aria-label", `Download the image from ${date} as a PDF`);
    }
    $(li, "[data-item-pick-label]").hidden = !canPrint;
    const pick = $(li, "[data-item-pick]");
    pick.setAttribute("aria-label", `Add the image from ${date} to the book`);
    if (!canPrint) {
      pick.checked = false;
      picked.delete(generation.id);
    }
    $(li, "[data-item-delete]").hidden = isPending(status);
  }

  function upsertItem(generation, { prepend = false } = {}) {
    const known = items.get(generation.id);
    if (known) {
      known.generation = generation;
      renderItem(known.li, generation);
      updateBook();
      return;
    }
    const li = itemTemplate.content.firstElementChild.cloneNode(true);
    const entry = { li, generation };
    items.set(generation.id, entry);
    $(li, "[data-item-view]").addEventListener("click", () => {
      current = entry.generation.id;
      showInPanel(entry.generation);
      bringIntoView(panel);
      panelTitle.focus({ preventScroll: true });
    });
    $(li, "[data-item-delete]").addEventListener("click", (event) => deleteItem(entry.generation.id, event.currentTarget));
    $(li, "[data-item-pick]").addEventListener("change", (event) => {
      if (event.currentTarget.checked) picked.add(entry.generation.id);
      else picked.delete(entry.generation.id);
      updateBook();
    });
    renderItem(li, generation);
    if (prepend) historyGrid.prepend(li);
    else historyGrid.append(li);
    updateEmpty();
  }

  function removeItem(id) {
    const entry = items.get(id);
    if (!entry) return;
    entry.li.remove();
    items.delete(id);
    picked.delete(id);
    if (current === id) resetPanel();
    updateEmpty();
  }

  async function deleteItem(id, button) {
    if (!window.confirm("Delete this image? The photo and the result are removed for good.")) return;
    showError(historyError, "");
    button.disabled = true;
    try {
      await api(`/api/v1/generations/${encodeURIComponent(id)}`, { method: "DELETE" });
      removeItem(id);
      historyStatus.textContent = "Image deleted.";
      historyTitle.focus();
    } catch (error) {
      showError(historyError, error.message);
      button.disabled = false;
    }
  }

  async function loadHistory() {
    loadMore.disabled = true;
    showError(historyError, "");
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (nextCursor) params.set("cursor", nextCursor);
    const firstPage = !nextCursor;
    try {
      const page = await api(`/api/v1/generations?${params}`);
      for (const generation of page.items) {
        if (items.has(generation.id)) continue;
        upsertItem(generation);
        if (isPending(generation.status)) watch(generation.id);
      }
      // Came back while an image was still being made: follow it in the panel.
      const newest = page.items[0];
      if (firstPage && current === null && newest && isPending(newest.status)) {
        current = newest.id;
        showInPanel(newest);
      }
      nextCursor = page.next_cursor;
      loadMore.hidden = !nextCursor;
    } catch (error) {
      showError(historyError, `Your images could not be loaded. ${error.message}`);
    } finally {
      loadMore.disabled = false;
      updateEmpty();
    }
  }

  loadMore.addEventListener("click", loadHistory);
  loadHistory();
})();
