// Seek-bar thumbnails: a WebVTT file whose cues name a tile of a sprite image
// ("sprite.jpg#xywh=160,0,160,90"), as media/renditions writes it.

function seconds(stamp) {
  // "01:02:03.500" or "02:03.500"
  const parts = stamp.trim().split(":").map(Number);
  return parts.reduce((total, part) => total * 60 + part, 0);
}

/** The cues of the WebVTT at `url`: [{start, end, url, x, y, w, h}] in time order; [] on failure. */
export async function loadThumbnails(url) {
  if (!url) return [];
  let text;
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return [];
    text = await response.text();
  } catch {
    return [];
  }
  const base = new URL(url, location.href);
  const cues = [];
  for (const block of text.replace(/\r\n?/g, "\n").split(/\n{2,}/)) {
    const lines = block.split("\n");
    const at = lines.findIndex((line) => line.includes("-->"));
    if (at < 0 || !lines[at + 1]) continue;
    const [from, to] = lines[at].split("-->").map((side) => seconds(side.trim().split(/\s+/)[0]));
    const [file, fragment = ""] = lines[at + 1].trim().split("#");
    const box = /xywh=(\d+),(\d+),(\d+),(\d+)/.exec(fragment);
    if (!box || !Number.isFinite(from) || !Number.isFinite(to)) continue;
    const [x, y, w, h] = box.slice(1).map(Number);
    cues.push({ start: from, end: to, url: new URL(file, base).href, x, y, w, h });
  }
  return cues.sort((a, b) => a.start - b.start);
}

/** The cue showing `time` (the last one starting before it). */
export function cueAt(cues, time) {
  let low = 0;
  let high = cues.length - 1;
  let found = null;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (cues[middle].start <= time) {
      found = cues[middle];
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found;
}
