// The processing panel of a Resource not ready yet (/library/<id>): polls its progress
// (GET /api/v1/resources/<id>/progress) and reloads the page once it is ready or has failed.

import { t } from "./strings.js";

const POLL_MS = 3000;
const MAX_POLL_MS = 30000;

const panel = document.getElementById("processing");
const bar = document.getElementById("processing-bar");
const text = document.getElementById("processing-text");
let delay = POLL_MS;

function show(found) {
  if (found.job_state === "running" && found.progress !== null) {
    const percent = Math.round(found.progress * 100);
    bar.value = percent;
    text.textContent = found.speed
      ? t("processing_speed", { percent, speed: found.speed.toFixed(1) })
      : t("processing", { percent });
  } else if (found.job_state === "queued" && found.attempts > 0) {
    bar.removeAttribute("value"); // indeterminate while it waits for its retry
    text.textContent = t("retrying", { n: found.attempts + 1 });
  } else {
    bar.removeAttribute("value");
    text.textContent = t("queued");
  }
}

async function poll() {
  try {
    const response = await fetch(`/api/v1/resources/${panel.dataset.resource}/progress`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (response.status === 401 || response.status === 404) {
      location.reload(); // signed out, or deleted: the page says so
      return;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const found = await response.json();
    delay = POLL_MS;
    if (found.state !== "processing") {
      text.textContent = found.state === "ready" ? t("ready_now") : t("failed_now");
      bar.value = found.state === "ready" ? 100 : bar.value;
      setTimeout(() => location.reload(), 600);
      return;
    }
    show(found);
  } catch {
    text.textContent = t("progress_unreachable");
    delay = Math.min(delay * 2, MAX_POLL_MS);
  }
  setTimeout(poll, delay);
}

setTimeout(poll, POLL_MS / 3);
