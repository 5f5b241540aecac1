// The classroom terminal (kiosk): a TV in a classroom, no keyboard, nobody watching it.
//
// It waits calmly ("Next lesson …"), finds its classroom's live lesson through the API with its
// terminal token, joins by itself, shows the hub full screen with the courseware, its own small
// preview and a big raise-hand button, rejoins by itself after a drop and returns to waiting
// when the lesson ends. The token arrives once, as /terminal#token=kt_… (or ?token=, or typed
// into the set-up form); it is kept in localStorage and dropped from the address bar.

import { captureCamera, MediaElements, previewVideo, webrtcUnavailable } from "./media.js";
import { LiveSession } from "./session.js";
import { $, el, fill, formatClock, linkQuality, loadStrings, Notices, setText, t, coalesce } from "./ui.js";

const TOKEN_KEY = "kelian.terminal.token";
const POLL_MS = 10000;
const POLL_MAX_MS = 60000;
const STATS_MS = 2000;
const REPORT_MS = 10000; // the terminal's own figures for the lesson report (stats.report)
const ENDED_PAUSE_MS = 8000;

loadStrings();

const screen = $("#kiosk");
const notices = new Notices($("#live-notices"));
const media = new MediaElements($("#live-audio"));
const soundButton = $("#sound-on");

let token = takeToken();
let session = null;
let pollTimer = null;
let pollDelay = POLL_MS;
let statsTimer = null;
let lastStats = new Map();
let reportTimer = null;
let lastReport = new Map(); // publication id -> its video stats at the last report
let wakeLock = null;
let hadFloor = false;

/**
 * The token from the address — `#token=kt_…` (never sent to the server, so never in its logs)
 * or `?token=kt_…` — kept in localStorage and removed from the address; else the stored one.
 */
function takeToken() {
  const url = new URL(location.href);
  const fromHash = new URLSearchParams(url.hash.slice(1)).get("token");
  const given = fromHash || url.searchParams.get("token");
  if (given) {
    keepToken(given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search);
    return given;
  }
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function keepToken(value) {
  try {
    localStorage.setItem(TOKEN_KEY, value);
  } catch {
    // No storage (a locked-down kiosk profile): the token lives until the page reloads.
  }
}

/** Setting up by hand: the token typed in once (the admin's token page says so). */
$("#kiosk-token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = $("#kiosk-token").value.trim();
  if (!value) return;
  token = value;
  keepToken(value);
  $("#kiosk-token-form").hidden = true;
  $("#kiosk-token").value = "";
  setText($("#kiosk-classroom"), "");
  loadClassroomName();
  poll();
});

async function api(path) {
  const response = await fetch(path, {
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
    cache: "no-store",
  });
  if (response.status === 401) throw Object.assign(new Error("unauthorized"), { unauthorized: true });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

// Waiting ----------------------------------------------------------------------------------------

function showWaiting(message, askForToken = false) {
  screen.dataset.state = "waiting";
  $("#waiting").hidden = false;
  $("#live").hidden = true;
  setText($("#kiosk-message"), message || "");
  $("#kiosk-token-form").hidden = !askForToken;
}

function tick() {
  const now = new Date();
  setText($("#kiosk-clock"), formatClock(now));
  setText($("#kiosk-date"), now.toLocaleDateString(document.documentElement.lang || "zh-CN",
    { month: "long", day: "numeric", weekday: "long" }));
}

function dayWord(date) {
  const today = new Date();
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  if (date.toDateString() === today.toDateString()) return t("kiosk_today");
  if (date.toDateString() === tomorrow.toDateString()) return t("kiosk_tomorrow");
  return date.toLocaleDateString(document.documentElement.lang || "zh-CN", { month: "long", day: "numeric", weekday: "short" });
}

function showNext(lesson) {
  const box = $("#kiosk-next");
  if (!lesson) {
    box.hidden = true;
    return;
  }
  const start = new Date(lesson.planned_start);
  const end = new Date(lesson.planned_end);
  box.hidden = false;
  setText($("#kiosk-next-title"), lesson.title);
  setText($("#kiosk-next-time"), `${dayWord(start)} ${formatClock(start)}–${formatClock(end)}`);
}

async function loadClassroomName() {
  try {
    const [rooms, schools] = await Promise.all([api("/api/v1/classrooms"), api("/api/v1/schools")]);
    const room = rooms.items[0];
    const school = room && schools.items.find((s) => s.id === room.school_id);
    if (room) setText($("#kiosk-classroom"), school ? `${school.name} · ${room.name}` : room.name);
  } catch {
    // Shown on the next poll.
  }
}

function schedulePoll(delay = pollDelay) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(poll, delay);
}

async function poll() {
  clearTimeout(pollTimer);
  if (session) return;
  if (!token) {
    showNext(null);
    showWaiting(t("kiosk_no_token"), true);
    return; // nothing to do until someone gives this page a token
  }
  try {
    const live = await api("/api/v1/lessons?status=live&limit=5");
    if (live.items.length) {
      pollDelay = POLL_MS;
      join(live.items[0]);
      return;
    }
    // Lessons not yet started, from a while ago (a late teacher) on.
    const since = new Date(Date.now() - 6 * 3600 * 1000).toISOString();
    const upcoming = await api(`/api/v1/lessons?status=scheduled&from=${encodeURIComponent(since)}&limit=20`);
    const now = Date.now();
    const next = upcoming.items.find((l) => new Date(l.planned_end).getTime() > now) || null;
    showNext(next);
    const late = next && new Date(next.planned_start).getTime() <= now;
    showWaiting(next ? t(late ? "kiosk_waiting_teacher" : "kiosk_starts_by_itself") : t("kiosk_none"));
    if (!$("#kiosk-classroom").textContent) loadClassroomName();
    pollDelay = POLL_MS;
  } catch (err) {
    if (err.unauthorized) {
      showNext(null);
      showWaiting(t("kiosk_token_invalid"), true);
      pollDelay = POLL_MAX_MS; // an administrator may fix it; keep looking now and then
    } else {
      showWaiting(t("kiosk_offline"));
      pollDelay = Math.min(POLL_MAX_MS, pollDelay * 1.5);
    }
  }
  schedulePoll();
}

// Live ----------------------------------------------------------------------------------------

async function captureLocal() {
  const got = await captureCamera();
  for (const key of got.problems) notices.show({ key, level: "error", sticky: `capture-${key}` });
  previewVideo($("#kiosk-self-video"), got.camera);
  $("#kiosk-self").hidden = !got.camera;
  return got;
}

function join(lesson) {
  const problem = webrtcUnavailable();
  if (problem) {
    showWaiting(t(problem));
    schedulePoll(POLL_MAX_MS);
    return;
  }
  session = new LiveSession({ lessonId: lesson.id, token, getLocal: captureLocal });
  window.kelian = { session }; // for diagnostics (and the browser test)
  const layoutSoon = coalesce(layout);
  session.addEventListener("joined", () => {
    screen.dataset.state = "live";
    $("#waiting").hidden = true;
    $("#live").hidden = false;
    keepAwake();
    layoutSoon();
  });
  session.addEventListener("change", layoutSoon);
  session.addEventListener("media", layoutSoon);
  session.addEventListener("status", (e) => {
    setText($("#kiosk-status"), t(`status_${e.detail.state}`));
    screen.dataset.connection = e.detail.state;
  });
  session.addEventListener("notice", (e) => notices.show(e.detail));
  session.addEventListener("ended", () => leave(t("kiosk_ended"), ENDED_PAUSE_MS));
  session.addEventListener("unavailable", () => leave("", POLL_MS));
  session.addEventListener("closed", (e) => {
    if (e.detail.code === 4409) leave(t("kiosk_replaced"), POLL_MAX_MS);
    else if (e.detail.code === 4401) leave(t("kiosk_token_invalid"), POLL_MAX_MS);
    else leave("", POLL_MS);
  });
  session.start();
  clearInterval(statsTimer);
  statsTimer = setInterval(updateLinkState, STATS_MS);
  clearInterval(reportTimer);
  lastReport = new Map();
  reportTimer = setInterval(sendReport, REPORT_MS);
}

function leave(message, pause) {
  if (session) session.stop();
  $("#live-recording").hidden = true;
  notices.clear("floor");
  hadFloor = false;
  session = null;
  window.kelian = {};
  clearInterval(statsTimer);
  clearInterval(reportTimer);
  media.clear();
  previewVideo($("#kiosk-self-video"), null);
  fill($("#kiosk-stage"));
  fill($("#kiosk-side-tiles"));
  releaseAwake();
  showWaiting(message);
  schedulePoll(pause);
}

function tile(video, caption, extraClass = "") {
  return el("figure", { class: `tile ${extraClass}` }, video, caption ? el("figcaption", {}, caption) : null);
}

function placeholder(text, extraClass = "") {
  return el("figure", { class: `tile placeholder ${extraClass}` }, el("p", {}, text));
}

function layout() {
  if (!session || !session.room) return;
  const room = session.room;
  const received = session.received();
  const keep = new Set(received.map((r) => r.publicationId));
  media.prune(keep);
  for (const r of received) if (r.kind === "audio") media.audio(r.publicationId, r.track);

  const videos = received.filter((r) => r.kind === "video" && !r.muted);
  const hubVideos = videos.filter((r) => r.participantId && room.isHub(r.participantId));
  const screenPub = hubVideos.find((r) => r.source === "screen");
  const cameras = hubVideos.filter((r) => r.source === "camera");
  const others = videos.filter((r) => !hubVideos.includes(r));

  const stage = [];
  const side = [];
  if (room.amHub) {
    // A terminal in the hub classroom shows the teaching points, the floor holder first.
    const points = [...others].sort((a, b) => (b.participantId === room.floor) - (a.participantId === room.floor));
    for (const r of points) {
      stage.push(tile(media.video(r.publicationId, r.track), room.label(r.participantId),
        r.participantId === room.floor ? "floor" : ""));
    }
    if (!points.length) stage.push(placeholder(t("no_participants")));
  } else {
    const main = screenPub || cameras[0];
    if (main) {
      const caption = main === screenPub ? t("courseware") : room.label(main.participantId);
      stage.push(tile(media.video(main.publicationId, main.track), caption, main === screenPub ? "main courseware" : "main"));
    } else {
      stage.push(placeholder(t("waiting_for_hub"), "main"));
    }
    for (const cam of cameras) {
      if (cam === main) continue;
      side.push(tile(media.video(cam.publicationId, cam.track), room.label(cam.participantId), "hub"));
    }
    for (const r of others) {
      const caption = t("speaking", { name: room.label(r.participantId) || "" });
      side.push(tile(media.video(r.publicationId, r.track), caption, r.participantId === room.floor ? "floor" : ""));
    }
  }
  fill($("#kiosk-stage"), stage);
  fill($("#kiosk-side-tiles"), side);
  screen.classList.toggle("with-courseware", Boolean(screenPub));

  setText($("#kiosk-title-text"), room.title);
  $("#live-recording").hidden = !room.recording;
  const selfTile = $("#kiosk-self");
  // A classroom that publishes nothing here (a famous-school broadcast) shows no own preview.
  if (!room.allowedSources().length) selfTile.hidden = true;
  const hasFloor = room.floor === room.me;
  selfTile.classList.toggle("floor", hasFloor);
  if (hasFloor !== hadFloor) {
    if (hasFloor) notices.show({ key: "you_have_floor", level: "warning", sticky: "floor" });
    else notices.clear("floor");
    hadFloor = hasFloor;
  }
  const mic = room.publicationOf(room.me, "microphone");
  const caption = mic && mic.muted ? t("muted_by_teacher") : hasFloor ? t("state_floor") : t("this_classroom");
  setText(selfTile.querySelector("figcaption"), caption);
  updateHand();
  showQuestion(room);
}

/** famous_school: the question the teacher highlighted, with its answer, for the whole class. */
function showQuestion(room) {
  const box = $("#kiosk-question");
  const q = [...room.questions.values()].reverse().find((item) => item.highlighted);
  box.hidden = !q;
  if (!q) return;
  setText(box.querySelector(".kiosk-question-who"), t("kiosk_question", { who: q.classroom || q.name }));
  setText(box.querySelector(".kiosk-question-text"), q.text);
  setText(box.querySelector(".kiosk-question-answer"), q.answer ? t("answered", { answer: q.answer }) : "");
}

function updateHand() {
  const button = $("#kiosk-hand");
  const room = session && session.room;
  if (!room || !room.may("raise_hand")) {
    button.hidden = true;
    return;
  }
  button.hidden = false;
  const raised = room.handRaised();
  const hasFloor = room.floor === room.me;
  button.disabled = hasFloor;
  button.classList.toggle("raised", raised);
  button.setAttribute("aria-pressed", raised ? "true" : "false");
  setText($("#kiosk-hand-label"), hasFloor ? t("state_floor") : raised ? t("hand_lower") : t("hand_raise"));
}

$("#kiosk-hand").addEventListener("click", async () => {
  const room = session && session.room;
  if (!room) return;
  const raised = room.handRaised();
  await session.request(raised ? "hand.lower" : "hand.raise");
  if (!raised && session && session.room && session.room.handRaised()) {
    notices.show({ key: "hand_raised_note" });
  }
});

async function updateLinkState() {
  if (!session || !session.room) return;
  const stats = await session.inboundStats();
  const next = new Map();
  let worst = null;
  const order = { good: 0, fair: 1, poor: 2 };
  for (const s of stats) {
    next.set(s.publication_id, s);
    if (s.kind !== "video") continue;
    const q = linkQuality(lastStats.get(s.publication_id), s);
    if (q && (worst === null || order[q] > order[worst])) worst = q;
  }
  lastStats = next;
  screen.dataset.link = worst || "";
  if (worst && session.room && screen.dataset.connection === "joined") {
    setText($("#kiosk-status"), `${t("status_joined")} · ${t(`quality_${worst}`)}`);
  }
}

/**
 * What this classroom actually saw over the last seconds, for the lesson report: the frame rate
 * of the best video shown and the freezes of all videos since the last report. The relay knows
 * loss and round trip; only the screen knows whether the picture moved.
 */
async function sendReport() {
  if (!session || !session.room) return;
  const videos = (await session.inboundStats()).filter((s) => s.kind === "video");
  if (!videos.length) return;
  let fps = 0;
  let freezes = 0;
  let frozenS = 0;
  const seen = new Map();
  for (const s of videos) {
    const before = lastReport.get(s.publication_id);
    if (before) {
      freezes += Math.max(0, s.freezeCount - before.freezeCount);
      frozenS += Math.max(0, s.totalFreezesDuration - before.totalFreezesDuration);
    }
    seen.set(s.publication_id, s);
    fps = Math.max(fps, s.framesPerSecond);
  }
  lastReport = seen;
  const report = { fps: Math.min(240, fps), freezes: Math.min(1000, freezes),
                   freeze_ms: Math.min(600000, Math.round(frozenS * 1000)) };
  // Not session.request: a report lost to a drop is no news for the people in the room.
  session.signalling.request("stats.report", report).catch(() => {});
}

// Sound and sleep --------------------------------------------------------------------------------

media.onBlocked = () => {
  soundButton.hidden = false;
};
soundButton.textContent = t("sound_blocked");
soundButton.addEventListener("click", () => {
  soundButton.hidden = true;
  media.unblock();
});

async function keepAwake() {
  try {
    if ("wakeLock" in navigator && !wakeLock) {
      wakeLock = await navigator.wakeLock.request("screen");
      wakeLock.addEventListener("release", () => { wakeLock = null; });
    }
  } catch {
    // Not allowed here (plain HTTP, power saving): the TV's own settings apply.
  }
}

function releaseAwake() {
  if (wakeLock) wakeLock.release().catch(() => {});
  wakeLock = null;
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && session) keepAwake();
});

tick();
setInterval(tick, 1000);
if (token) loadClassroomName();
poll();
