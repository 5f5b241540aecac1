// The upload page (/library/upload): sends the form as one multipart stream (metadata first,
// the video last) with the CSRF token in its header, shows the upload's progress, and puts the
// server's answers next to the inputs. Nothing is sent when the file is over the limit.

import { bytes, t } from "./strings.js";

const form = document.getElementById("upload-form");
const fileInput = document.getElementById("f-file");
const submit = document.getElementById("upload-submit");
const cancel = document.getElementById("upload-cancel");
const back = document.getElementById("upload-back");
const progress = document.getElementById("upload-progress");
const bar = document.getElementById("upload-bar");
const status = document.getElementById("upload-status");
const errors = document.getElementById("upload-errors");
const errorTitle = document.getElementById("upload-errors-title");
const errorList = document.getElementById("upload-errors-list");
const limit = Number(form.dataset.limit);
let request = null;

function clearErrors() {
  errors.hidden = true;
  errorList.replaceChildren();
  for (const node of form.querySelectorAll(".field-error.from-upload")) node.remove();
  for (const node of form.querySelectorAll(".has-error")) node.classList.remove("has-error");
}

function fieldOf(name) {
  if (name === "file") return document.getElementById("f-file-field");
  return document.getElementById(`f-${name}`)?.closest(".field") ?? null;
}

function showErrors(title, details = []) {
  errorTitle.textContent = title;
  errorList.replaceChildren();
  for (const { field, message } of details) {
    const where = fieldOf(field);
    if (where) {
      const note = document.createElement("p");
      note.className = "field-error from-upload";
      note.textContent = message;
      where.append(note);
      where.classList.add("has-error");
    }
    const item = document.createElement("li");
    const label = where?.querySelector("label")?.firstChild?.textContent?.trim();
    const colon = document.documentElement.lang.startsWith("zh") ? "：" : ": ";
    item.textContent = label ? `${label}${colon}${message}` : message;
    errorList.append(item);
  }
  errors.hidden = false;
  errors.scrollIntoView({ block: "nearest" });
}

function busy(on) {
  submit.disabled = on;
  cancel.hidden = !on;
  back.hidden = on;
  progress.hidden = !on && !status.textContent;
  for (const input of form.querySelectorAll("input, select, textarea")) input.disabled = on;
}

function leaving(event) {
  event.preventDefault();
  event.returnValue = t("upload_leave");
}

function finish(message = "") {
  request = null;
  window.removeEventListener("beforeunload", leaving);
  status.textContent = message;
  busy(false);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (request) return;
  clearErrors();
  const file = fileInput.files[0];
  if (!file) {
    showErrors(t("upload_no_file"), [{ field: "file", message: t("upload_no_file") }]);
    return;
  }
  if (file.size > limit) {
    const message = t("upload_too_large", { size: bytes(file.size), limit: form.dataset.limitLabel });
    showErrors(message, [{ field: "file", message }]);
    return;
  }
  const body = new FormData(form); // in the form's order: the metadata, then the file
  request = new XMLHttpRequest();
  request.open("POST", form.action);
  request.setRequestHeader("X-CSRF-Token", form.elements._csrf.value);
  request.setRequestHeader("Accept", "application/json");
  request.responseType = "json";
  request.upload.addEventListener("progress", (e) => {
    if (!e.lengthComputable) return;
    const percent = Math.floor((100 * e.loaded) / e.total);
    bar.value = percent;
    status.textContent = t("upload_progress", { percent, sent: bytes(e.loaded), size: bytes(e.total) });
  });
  request.addEventListener("load", () => {
    const answer = request.response;
    if (request.status === 201 && answer?.url) {
      window.removeEventListener("beforeunload", leaving);
      status.textContent = t("upload_processing");
      location.assign(answer.url);
      return;
    }
    finish();
    const error = answer?.error;
    showErrors(error?.message || t("upload_failed", { reason: `HTTP ${request.status}` }),
               error?.details?.filter((d) => d.field !== "form") ?? []);
    for (const d of error?.details ?? []) {
      if (d.field === "form") errorList.append(Object.assign(document.createElement("li"), { textContent: d.message }));
    }
  });
  request.addEventListener("error", () => {
    finish();
    showErrors(t("upload_network"));
  });
  request.addEventListener("abort", () => finish(t("upload_cancelled")));
  window.addEventListener("beforeunload", leaving);
  bar.value = 0;
  status.textContent = t("upload_progress", { percent: 0, sent: bytes(0), size: bytes(file.size) });
  busy(true);
  request.send(body);
});

cancel.addEventListener("click", () => request?.abort());
fileInput.addEventListener("change", () => { if (!request) clearErrors(); });
