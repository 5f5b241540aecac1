// The library's player (/library/<id>): adaptive HLS through hls.js (from npm, served at
// /static/vendor/hls.mjs), or the browser's own HLS where hls.js is missing or unsupported
// (Safari, iOS). Quality (auto or one rung), speed, seek-bar thumbnails, and resuming where
// this browser left off.

import { clock, t } from "./strings.js";
import { cueAt, loadThumbnails } from "./thumbnails.js";

const HLS_MODULE = "/static/vendor/hls.mjs";
const RESUME_KEY = "kelian.library.resume.";
const SPEED_KEY = "kelian.library.speed";
const RESUME_MIN_S = 5; // closer to either end than this, start from the beginning
const RESUME_KEEP_DAYS = 180;
const SAVE_EVERY_MS = 3000;
const SEEK_STEP_S = 5;

const data = JSON.parse(document.getElementById("player-data").textContent);
const root = document.getElementById("player");
const video = document.getElementById("player-video");
const $ = (id) => document.getElementById(id);
const ui = {
  bigPlay: $("player-big-play"),
  play: $("player-play"),
  mute: $("player-mute"),
  seek: $("player-seek"),
  current: $("player-current"),
  duration: $("player-duration"),
  speed: $("player-speed"),
  quality: $("player-quality"),
  fullscreen: $("player-fullscreen"),
  message: $("player-message"),
  preview: $("player-preview"),
  resume: $("player-resume"),
  resumeText: $("player-resume-text"),
  restart: $("player-restart"),
};
const resumeKey = RESUME_KEY + data.resource;
let source = null; // {choose(value)} of hls.js or of the native player
let cues = [];
let dragging = false;

// Messages over the picture --------------------------------------------------------------------

function say(text) {
  ui.message.textContent = text;
  ui.message.hidden = !text;
}

// Resume ---------------------------------------------------------------------------------------

function readResume() {
  try {
    const saved = JSON.parse(localStorage.getItem(resumeKey) || "null");
    const at = Number(saved?.t);
    const end = Number(data.duration) || Infinity;
    return at > RESUME_MIN_S && at < end - RESUME_MIN_S ? at : null;
  } catch {
    return null;
  }
}

let lastSave = 0;
function saveResume(force = false) {
  const now = Date.now();
  if (!force && now - lastSave < SAVE_EVERY_MS) return;
  lastSave = now;
  try {
    if (video.currentTime > RESUME_MIN_S && !video.ended) {
      localStorage.setItem(resumeKey, JSON.stringify({ t: Math.round(video.currentTime), at: now }));
    }
  } catch {
    // storage full or disabled: resuming is a convenience
  }
}

function forgetOldPositions() {
  const oldest = Date.now() - RESUME_KEEP_DAYS * 86400e3;
  try {
    for (let i = localStorage.length - 1; i >= 0; i--) {
      const key = localStorage.key(i);
      if (key?.startsWith(RESUME_KEY) && !(JSON.parse(localStorage.getItem(key))?.at > oldest)) {
        localStorage.removeItem(key);
      }
    }
  } catch {
    // nothing to tidy
  }
}

// Sources --------------------------------------------------------------------------------------

function nameOf(height) {
  const known = data.renditions.find((r) => r.height === height);
  return known ? known.name : `${height}p`;
}

function fillQuality(levels) {
  for (const level of [...levels].sort((a, b) => b.height - a.height)) {
    ui.quality.add(new Option(level.name, level.value));
  }
  ui.quality.disabled = levels.length < 2;
}

function showLevel(name) {
  root.dataset.level = name;
  ui.quality.options[0].textContent = ui.quality.value === "auto" ? t("auto_now", { name }) : t("auto");
}

function useHls(Hls, startAt) {
  const hls = new Hls({
    enableWorker: false, // a worker from a blob: URL is refused by the pages' CSP
    capLevelToPlayerSize: true, // a small window on a slow link gets a small rung
    startPosition: startAt ?? -1,
  });
  let retries = 0;
  let recoveries = 0;
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    fillQuality(hls.levels.map((level, index) => ({ value: String(index), height: level.height,
                                                    name: nameOf(level.height) })));
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_event, info) => showLevel(nameOf(hls.levels[info.level].height)));
  hls.on(Hls.Events.FRAG_BUFFERED, () => {
    if (retries) say("");
    retries = 0;
  });
  hls.on(Hls.Events.ERROR, (_event, info) => {
    if (!info.fatal) return;
    if (info.type === Hls.ErrorTypes.NETWORK_ERROR && retries < 6) {
      retries += 1;
      say(t("network_retry"));
      setTimeout(() => hls.startLoad(), 1000 * 2 ** retries);
    } else if (info.type === Hls.ErrorTypes.MEDIA_ERROR && recoveries < 3) {
      recoveries += 1;
      hls.recoverMediaError();
    } else {
      say(t("load_failed"));
      hls.destroy();
    }
  });
  hls.loadSource(data.master);
  hls.attachMedia(video);
  root.dataset.engine = "hls.js";
  return {
    choose(value) {
      // currentLevel switches at once (the buffer is flushed); -1 is automatic again.
      hls.currentLevel = value === "auto" ? -1 : Number(value);
      if (value !== "auto") showLevel(nameOf(hls.levels[Number(value)].height));
    },
  };
}

function useNative(startAt) {
  const rungs = data.renditions.filter((r) => r.playlist);
  const load = (url, at, play) => {
    video.src = url;
    video.addEventListener("loadedmetadata", () => {
      if (at) video.currentTime = at;
      if (play) video.play().catch(() => {});
    }, { once: true });
  };
  load(data.master, startAt, false);
  fillQuality(rungs.map((r) => ({ value: r.playlist, height: r.height, name: r.name })));
  root.dataset.engine = "native";
  return {
    choose(value) {
      const rate = video.playbackRate;
      load(value === "auto" ? data.master : value, video.currentTime, !video.paused);
      video.playbackRate = rate;
      const rung = rungs.find((r) => r.playlist === value);
      if (rung) showLevel(rung.name);
    },
  };
}

async function attach(startAt) {
  let Hls = null;
  try {
    Hls = (await import(HLS_MODULE)).default;
  } catch (error) {
    console.warn("hls.js is not available; trying the browser's own HLS", error);
  }
  if (Hls?.isSupported()) return useHls(Hls, startAt);
  if (video.canPlayType("application/vnd.apple.mpegurl")) return useNative(startAt);
  say(t("no_player"));
  root.dataset.engine = "none";
  return null;
}

// Controls -------------------------------------------------------------------------------------

function toggle() {
  if (video.paused || video.ended) video.play().catch(() => {});
  else video.pause();
}

function fraction(value, whole) {
  return whole > 0 ? `${Math.min(100, (100 * value) / whole).toFixed(2)}%` : "0%";
}

function showTime() {
  const duration = Number.isFinite(video.duration) ? video.duration : Number(data.duration) || 0;
  ui.current.textContent = clock(video.currentTime);
  ui.duration.textContent = clock(duration);
  if (!dragging) ui.seek.value = String(video.currentTime);
  ui.seek.style.setProperty("--played", fraction(video.currentTime, duration));
}

function showBuffered() {
  const { buffered } = video;
  const end = buffered.length ? buffered.end(buffered.length - 1) : 0;
  ui.seek.style.setProperty("--buffered", fraction(end, video.duration));
}

function setLabel(button, key) {
  button.setAttribute("aria-label", t(key));
  button.title = t(key);
}

function wire() {
  ui.bigPlay.addEventListener("click", toggle);
  ui.play.addEventListener("click", toggle);
  video.addEventListener("click", toggle);
  video.addEventListener("dblclick", toggleFullscreen);
  video.addEventListener("play", () => {
    root.dataset.playing = "true";
    root.dataset.started = "true";
    setLabel(ui.play, "pause");
  });
  video.addEventListener("pause", () => {
    root.dataset.playing = "false";
    setLabel(ui.play, "play");
    saveResume(true);
  });
  video.addEventListener("waiting", () => { root.dataset.waiting = "true"; });
  for (const name of ["playing", "canplay", "seeked"]) {
    video.addEventListener(name, () => { root.dataset.waiting = "false"; });
  }
  video.addEventListener("timeupdate", () => {
    showTime();
    saveResume();
  });
  video.addEventListener("durationchange", () => {
    if (Number.isFinite(video.duration)) ui.seek.max = String(video.duration);
    showTime();
  });
  video.addEventListener("progress", showBuffered);
  video.addEventListener("ended", () => {
    try {
      localStorage.removeItem(resumeKey);
    } catch {
      // nothing saved
    }
  });

  ui.mute.addEventListener("click", () => { video.muted = !video.muted; });
  video.addEventListener("volumechange", () => {
    root.dataset.muted = String(video.muted);
    setLabel(ui.mute, video.muted ? "unmute" : "mute");
  });

  ui.seek.addEventListener("pointerdown", () => { dragging = true; });
  ui.seek.addEventListener("input", () => {
    video.currentTime = Number(ui.seek.value);
    showTime();
  });
  ui.seek.addEventListener("change", () => { dragging = false; });
  window.addEventListener("pointerup", () => { dragging = false; });
  ui.seek.addEventListener("pointermove", (event) => preview(event.clientX));
  ui.seek.addEventListener("pointerleave", () => { ui.preview.hidden = true; });

  ui.speed.addEventListener("change", () => {
    const rate = Number(ui.speed.value);
    video.playbackRate = rate;
    video.defaultPlaybackRate = rate;
    try {
      localStorage.setItem(SPEED_KEY, ui.speed.value);
    } catch {
      // remembered for this page only
    }
  });
  video.addEventListener("ratechange", () => {
    const value = String(video.playbackRate);
    if ([...ui.speed.options].some((o) => o.value === value)) ui.speed.value = value;
  });

  ui.quality.addEventListener("change", () => source?.choose(ui.quality.value));

  ui.fullscreen.addEventListener("click", toggleFullscreen);
  document.addEventListener("fullscreenchange", () => {
    const full = document.fullscreenElement === root;
    root.dataset.fullscreen = String(full);
    setLabel(ui.fullscreen, full ? "exit_fullscreen" : "fullscreen");
  });
  if (!document.fullscreenEnabled) ui.fullscreen.hidden = true;

  root.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLSelectElement || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    const keys = {
      " ": toggle,
      k: toggle,
      f: toggleFullscreen,
      m: () => { video.muted = !video.muted; },
      ArrowLeft: () => { video.currentTime = Math.max(0, video.currentTime - SEEK_STEP_S); },
      ArrowRight: () => { video.currentTime = Math.min(video.duration || Infinity, video.currentTime + SEEK_STEP_S); },
    };
    const action = keys[event.key];
    if (!action || (event.key === " " && event.target instanceof HTMLButtonElement)) return;
    event.preventDefault();
    action();
  });

  window.addEventListener("pagehide", () => saveResume(true));
  ui.restart.addEventListener("click", () => {
    video.currentTime = 0;
    ui.resume.hidden = true;
    try {
      localStorage.removeItem(resumeKey);
    } catch {
      // nothing saved
    }
  });
}

function toggleFullscreen() {
  if (!document.fullscreenEnabled) return;
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else root.requestFullscreen().catch(() => {});
}

function preview(x) {
  const duration = video.duration || Number(data.duration);
  if (!duration) return;
  const bar = ui.seek.getBoundingClientRect();
  const box = root.getBoundingClientRect();
  const time = Math.min(1, Math.max(0, (x - bar.left) / bar.width)) * duration;
  const cue = cueAt(cues, time);
  const image = ui.preview.querySelector(".player-preview-image");
  image.hidden = !cue;
  if (cue) {
    image.style.width = `${cue.w}px`;
    image.style.height = `${cue.h}px`;
    image.style.backgroundImage = `url("${cue.url}")`;
    image.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
  }
  ui.preview.querySelector(".player-preview-time").textContent = clock(time);
  ui.preview.hidden = false;
  const width = ui.preview.offsetWidth;
  const left = Math.min(box.width - width - 4, Math.max(4, x - box.left - width / 2));
  ui.preview.style.left = `${left}px`;
}

// Start ----------------------------------------------------------------------------------------

async function start() {
  forgetOldPositions();
  wire();
  try {
    const speed = localStorage.getItem(SPEED_KEY);
    if (speed && [...ui.speed.options].some((o) => o.value === speed)) {
      ui.speed.value = speed;
      video.defaultPlaybackRate = video.playbackRate = Number(speed);
    }
  } catch {
    // the default speed
  }
  const resumeAt = readResume();
  if (resumeAt !== null) {
    ui.resumeText.textContent = t("resumed", { time: clock(resumeAt) });
    ui.resume.hidden = false;
    ui.seek.value = String(resumeAt);
  }
  showTime();
  source = await attach(resumeAt);
  root.dataset.ready = String(source !== null);
  cues = await loadThumbnails(data.thumbnails);
  for (const cue of cues.slice(0, 1)) new Image().src = cue.url; // the sprite, before a hover
}

start();
