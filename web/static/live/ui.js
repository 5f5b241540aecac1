// Small DOM helpers shared by the live pages: translated strings, elements, notices, times.
//
// Strings come translated from the server (server/pages/live.py CLIENT_STRINGS) in a
// <script type="application/json" id="live-strings"> block; the page never builds UI text
// from English itself.

let STRINGS = {};

export function loadStrings(id = "live-strings") {
  const node = document.getElementById(id);
  STRINGS = node ? JSON.parse(node.textContent) : {};
  return STRINGS;
}

/** The translated string `key`, with %(name)s placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = STRINGS[key];
  if (text === undefined) {
    console.warn("kelian: no string", key);
    return key;
  }
  return text.replace(/%\((\w+)\)s/g, (_, name) => (name in vars ? String(vars[name]) : ""));
}

/** el("div", {class: "x", dataset: {id: 1}, onclick: fn}, child, "text", …) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** Replace the children of `node` (keeping nodes that are passed again, e.g. <video>s). */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

export function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

/**
 * The notice area: short messages that go away by themselves, and sticky ones (one per
 * `sticky` slot: "link", "media", "socket" …) that stay until cleared or replaced.
 */
export class Notices {
  constructor(host) {
    this.host = host;
    this.sticky = new Map(); // slot -> element
  }

  show({ key, level = "info", sticky = null, clear = false, quiet = false, vars = {} }) {
    if (sticky && this.sticky.has(sticky)) {
      this.sticky.get(sticky).remove();
      this.sticky.delete(sticky);
    }
    if (clear && quiet) return;
    const text = t(key, vars);
    const node = el("p", { class: `live-notice ${level}`, role: level === "error" ? "alert" : "status", dataset: { key } }, text);
    this.host.append(node);
    if (sticky && !clear) {
      this.sticky.set(sticky, node);
    } else {
      setTimeout(() => node.remove(), level === "error" ? 12000 : 6000);
    }
  }

  clear(slot) {
    const node = this.sticky.get(slot);
    if (node) node.remove();
    this.sticky.delete(slot);
  }
}

export function formatClock(date, withSeconds = false) {
  const pad = (n) => String(n).padStart(2, "0");
  const hm = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  return withSeconds ? `${hm}:${pad(date.getSeconds())}` : hm;
}

export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const pad = (n) => String(n).padStart(2, "0");
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}

/**
 * Link quality from a receiver's figures between two samples: "good" | "fair" | "poor", or
 * null when nothing arrived (a camera switched off). Loss and jitter only: a low frame rate
 * is as often a busy computer at either end as a poor network.
 */
export function linkQuality(previous, current) {
  if (!previous || !current) return null;
  const received = current.packetsReceived - previous.packetsReceived;
  const lost = Math.max(0, current.packetsLost - previous.packetsLost);
  if (received + lost <= 0) return null;
  const loss = lost / (received + lost);
  const jitter = current.jitter || 0; // seconds
  if (loss > 0.08 || jitter > 0.15) return "poor";
  if (loss > 0.02 || jitter > 0.06) return "fair";
  return "good";
}

/** Many calls in one turn become one call soon after (timers, not animation frames, so a
 * hidden tab — the teacher sharing another window — still lays out). */
export function coalesce(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    setTimeout(() => {
      queued = false;
      fn();
    }, 0);
  };
}
