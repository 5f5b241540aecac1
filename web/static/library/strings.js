// The library pages' texts, translated on the server (CLIENT_STRINGS in
// server/pages/library.py) and embedded in the page as a JSON block.

const strings = JSON.parse(document.getElementById("library-strings")?.textContent || "{}");

/** The text for `key`, with %(name)s replaced from `values` and %% read as %. */
export function t(key, values = {}) {
  const text = strings[key] ?? key;
  return text
    .replace(/%\((\w+)\)s/g, (_, name) => String(values[name] ?? ""))
    .replace(/%%/g, "%");
}

/** 75 -> "1:15", 3725 -> "1:02:05". */
export function clock(seconds) {
  const total = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${secs}` : `${minutes}:${secs}`;
}

/** 1536000 -> "1.5 MB", as the server labels sizes. */
export function bytes(count) {
  const units = [["TB", 2 ** 40], ["GB", 2 ** 30], ["MB", 2 ** 20], ["KB", 2 ** 10]];
  for (const [unit, size] of units) {
    if (count >= size) return `${(count / size).toFixed(1)} ${unit}`;
  }
  return `${count} B`;
}
