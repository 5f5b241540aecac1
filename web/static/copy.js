// Copy buttons: <button data-copy="ID" data-copied="label" hidden> copies the value of #ID.
// The button stays hidden where the Clipboard API is unavailable (plain HTTP on another host);
// the text field can still be selected and copied by hand.
for (const button of document.querySelectorAll("button[data-copy]")) {
  const field = document.getElementById(button.dataset.copy);
  if (!field || !navigator.clipboard || !window.isSecureContext) continue;
  const label = button.textContent;
  button.hidden = false;
  button.addEventListener("click", async () => {
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = button.dataset.copied || label;
      setTimeout(() => { button.textContent = label; }, 2000);
    } catch {
      // The selection stays, so Ctrl+C still works.
    }
  });
}
for (const field of document.querySelectorAll("input[readonly].token")) {
  field.addEventListener("focus", () => field.select());
}
