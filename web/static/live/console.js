// The teacher console (/lessons/{id}/live for the lesson's teacher or an admin): start the
// lesson, see yourself, switch camera/microphone/courseware, see every linked classroom with its
// state and link quality, give and take the floor, mute a classroom, answer raised hands, chat,
// and end the lesson.

import { captureCamera, MediaElements, previewVideo, webrtcUnavailable } from "./media.js";
import { ChatPanel, QuestionsPanel, showConnection } from "./panels.js";
import { LiveSession } from "./session.js";
import { $, coalesce, el, fill, formatDuration, linkQuality, loadStrings, Notices, setText, t } from "./ui.js";

const STATS_MS = 2000;
const END_CONFIRM_MS = 5000;

loadStrings();

const root = $("#console");
const lessonId = Number(root.dataset.lesson);
const kind = root.dataset.kind;
const linkedLabels = [...document.querySelectorAll("#grid > li[data-classroom]")].map((li) => li.dataset.classroom);
const notices = new Notices($("#live-notices"));
const media = new MediaElements($("#live-audio"));
const grid = $("#grid");
const endButton = $("#end-lesson");
const startButton = $("#start-lesson");

let startedAt = root.dataset.started ? new Date(root.dataset.started) : null;
let session = null;
let captured = null;
let chat = null;
let questions = null;
let quality = new Map(); // participant id -> good | fair | poor
let lastStats = new Map(); // publication id -> inbound figures
let statsTimer = null;
let endTimer = null;
const preMuted = { camera: false, microphone: false }; // switched before the lesson started

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)kelian_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/** The camera and microphone, asked for once: the preview shows before the lesson starts. */
function capture() {
  if (!captured) {
    captured = captureCamera().then((got) => {
      for (const key of got.problems) notices.show({ key, level: "error", sticky: `capture-${key}` });
      previewVideo($("#self-video"), got.camera);
      $("#toggle-camera").disabled = !got.camera;
      $("#toggle-microphone").disabled = !got.microphone;
      return got;
    });
  }
  return captured;
}

function setStatus(status) {
  root.dataset.status = status;
  const labels = { live: "state_live", ended: "state_ended" };
  if (labels[status]) setText($("#live-status"), t(labels[status]));
}

function showMessage(key, home = false) {
  $("#console-message").hidden = !key;
  setText($("#console-message-text"), key ? t(key) : "");
  $("#console-home").hidden = !home;
}

// Starting and ending -------------------------------------------------------------------------

async function startLesson() {
  startButton.disabled = true;
  let response;
  try {
    response = await fetch(`/api/v1/lessons/${lessonId}/start`, {
      method: "POST",
      headers: { "X-CSRF-Token": csrfToken(), Accept: "application/json" },
      credentials: "same-origin",
    });
  } catch {
    notices.show({ key: "request_disconnected", level: "error" });
    startButton.disabled = false;
    return;
  }
  // 409: started meanwhile (another window, the dashboard): join it all the same.
  if (!response.ok && response.status !== 409) {
    notices.show({ key: "start_failed", level: "error" });
    startButton.disabled = false;
    return;
  }
  if (response.ok) {
    const lesson = await response.json();
    startedAt = lesson.actual_start ? new Date(lesson.actual_start) : new Date();
  }
  startButton.hidden = true;
  begin();
}

endButton.addEventListener("click", async () => {
  if (!session || !session.room) return;
  if (!endButton.classList.contains("confirming")) {
    endButton.classList.add("confirming");
    setText(endButton, t("end_confirm"));
    endTimer = setTimeout(resetEndButton, END_CONFIRM_MS);
    return;
  }
  resetEndButton();
  endButton.disabled = true;
  const reply = await session.request("lesson.end");
  if (!reply) {
    endButton.disabled = false;
    notices.show({ key: "end_failed", level: "error" });
  }
});

function resetEndButton() {
  clearTimeout(endTimer);
  endButton.classList.remove("confirming");
  setText(endButton, endButton.dataset.label);
}

function finish(messageKey) {
  if (session) session.stop();
  clearInterval(statsTimer);
  media.clear();
  previewVideo($("#self-video"), null);
  previewVideo($("#screen-video"), null);
  endButton.hidden = true;
  $("#record-toggle").hidden = true;
  $("#live-recording").hidden = true;
  root.classList.add("finished");
  setText($("#live-connection"), "");
  $("#live-connection").dataset.state = "";
  showMessage(messageKey, true);
}

// The session ---------------------------------------------------------------------------------

function begin() {
  const problem = webrtcUnavailable();
  if (problem) {
    showMessage(problem);
    return;
  }
  setStatus("live");
  endButton.hidden = false;
  session = new LiveSession({ lessonId, getLocal: capture });
  Object.assign(session.wantMuted, preMuted);
  window.kelian = { session }; // for diagnostics (and the browser test)
  chat = new ChatPanel(session, { list: $("#chat-list"), form: $("#chat-form"), input: $("#chat-input") });
  const questionList = $("#question-list");
  questions = questionList ? new QuestionsPanel(session, questionList) : null;
  const renderSoon = coalesce(render);
  session.addEventListener("joined", renderSoon);
  session.addEventListener("change", renderSoon);
  session.addEventListener("media", renderSoon);
  session.addEventListener("status", (e) => showConnection($("#live-connection"), e.detail.state));
  session.addEventListener("notice", (e) => notices.show(e.detail));
  session.addEventListener("change", (e) => {
    // A classroom reported as not joined has come in after all.
    const msg = e.detail.msg;
    if (msg && msg.type === "event.participant.joined" && msg.participant.classroom) {
      notices.clear(`absent:${msg.participant.classroom}`);
    }
  });
  session.addEventListener("ended", () => {
    setStatus("ended");
    finish("lesson_ended");
  });
  session.addEventListener("unavailable", (e) => {
    finish(e.detail.code === "lesson_not_live" ? "lesson_not_live" : "no_seat");
  });
  session.addEventListener("closed", (e) => finish(e.detail.code === 4409 ? "replaced" : "unauthenticated"));
  session.start();
  statsTimer = setInterval(updateQuality, STATS_MS);
}

function render() {
  if (!session || !session.room) return;
  const room = session.room;
  const received = session.received();
  media.prune(new Set(received.map((r) => r.publicationId)));
  for (const r of received) if (r.kind === "audio") media.audio(r.publicationId, r.track);
  const videoOf = new Map();
  for (const r of received) {
    if (r.kind === "video" && r.participantId && r.source === "camera") videoOf.set(r.participantId, r);
  }
  renderGrid(room, videoOf);
  renderHands(room);
  renderCameras(room);
  renderControls();
  renderRecording(room);
  chat.render();
  if (questions) questions.render();
}

function gridParticipants(room) {
  const seats = kind === "dedicated" ? ["receiving_classroom"] : ["receiving_classroom", "observer", "host_classroom"];
  return [...room.participants.values()].filter((p) => seats.includes(p.role));
}

function renderGrid(room, videoOf) {
  const people = gridParticipants(room);
  for (const id of firstSeen.keys()) if (!room.participants.has(id)) firstSeen.delete(id);
  const items = [];
  const placed = new Set();
  for (const label of linkedLabels) {
    const here = people.filter((p) => p.classroom === label);
    if (!here.length) items.push(offlineTile(label));
    for (const p of here) {
      items.push(pointTile(room, p, videoOf.get(p.participant_id)));
      placed.add(p.participant_id);
    }
  }
  for (const p of people) {
    if (!placed.has(p.participant_id)) items.push(pointTile(room, p, videoOf.get(p.participant_id)));
  }
  if (!items.length) items.push(el("li", { class: "empty-line" }, t("no_participants")));
  fill(grid, items);
  grid.dataset.count = String(items.length);
}

// Where each linked classroom that is not in the Room is: reconnecting, waiting on its kiosk,
// or offline (GET /lessons/{id}/classrooms.json, polled while the lesson is live).
let whereabouts = new Map();
// When each participant was first seen here: a classroom that has just come in and shows no
// picture yet is "joining" (its media connections are being set up), later simply connected.
const firstSeen = new Map();
const JOINING_MS = 20000;
const WHEREABOUTS_MS = 5000;

async function pollWhereabouts() {
  if (!session || !session.room) return;
  try {
    const response = await fetch(`/lessons/${lessonId}/classrooms.json`, { credentials: "same-origin" });
    if (response.ok) {
      const body = await response.json();
      whereabouts = new Map(body.classrooms.map((c) => [c.label, c.state]));
      render();
    }
  } catch {
    // the next poll tries again; the grid keeps what it showed
  }
}
setInterval(pollWhereabouts, WHEREABOUTS_MS);

function offlineTile(label) {
  const state = whereabouts.get(label) || "offline";
  // "in_lesson" without being in this Room: the classroom watches through another node (a
  // broadcast's cascade), so it has no tile of its own here, only this note.
  const elsewhere = state === "in_lesson";
  const cls = elsewhere ? "point elsewhere" : `point offline ${state}`;
  const text = elsewhere ? t("state_online") : t(`classroom_${state}`);  // as its tile here would
  return el("li", { class: cls, dataset: { classroom: label, state } },
    el("figure", { class: "tile placeholder" }, el("p", {}, text), el("figcaption", {}, label)));
}

function pointTile(room, p, video) {
  const id = p.participant_id;
  const camera = room.publicationOf(id, "camera");
  const mic = room.publicationOf(id, "microphone");
  const hasFloor = room.floor === id;
  const hand = room.handRaised(id);
  const onStage = room.onStage(id);
  const q = quality.get(id);
  const classes = ["point", hasFloor && "floor", hand && "hand", onStage && "on-stage"].filter(Boolean).join(" ");

  if (!firstSeen.has(id)) firstSeen.set(id, Date.now());
  const joining = Date.now() - firstSeen.get(id) < JOINING_MS;
  let picture;
  if (video && camera && !camera.muted) {
    picture = media.video(video.publicationId, video.track);
  } else if (camera && camera.muted) {
    picture = el("p", {}, t("state_camera_off"));
  } else {
    picture = el("p", {}, t(joining ? "classroom_joining" : "state_online"));
    if (joining) setTimeout(render, JOINING_MS);  // then say "connected" if still no picture
  }
  const badges = el("div", { class: "badges" },
    hasFloor ? el("span", { class: "badge floor" }, t("state_floor")) : null,
    hand ? el("span", { class: "badge hand" }, t("state_hand")) : null,
    onStage ? el("span", { class: "badge floor" }, t("on_stage")) : null,
    mic && mic.muted ? el("span", { class: "badge muted" }, t("state_muted")) : null,
    q ? el("span", { class: `badge quality q-${q}`, title: t(`quality_${q}`) }, t(`quality_${q}`)) : null);

  const actions = [];
  if (room.may("give_floor") && p.role === "receiving_classroom") {
    actions.push(hasFloor
      ? action("take_floor", id, "button small primary")
      : action("give_floor", id, "button small"));
  }
  if (room.may("manage_stage") && (p.role === "receiving_classroom" || p.role === "observer")) {
    actions.push(onStage ? action("remove_stage", id, "button small primary") : action("invite_stage", id, "button small"));
  }
  if (room.may("mute_others") && mic) {
    actions.push(action(mic.muted ? "unmute" : "mute", id, "button small subtle", { publication: mic.publication_id }));
  }
  if (hand) actions.push(action("lower_hand", id, "button small subtle"));

  return el("li", { class: classes, dataset: { participant: id, classroom: p.classroom || "" } },
    el("figure", { class: `tile${picture.tagName === "VIDEO" ? "" : " placeholder"}${hasFloor ? " floor" : ""}` },
      picture, el("figcaption", {}, room.label(id)), badges),
    actions.length ? el("div", { class: "point-actions" }, actions) : null);
}

function action(name, participantId, cls, extra = {}) {
  return el("button", { type: "button", class: cls, dataset: { action: name, participant: participantId, ...extra } }, t(name));
}

function renderHands(room) {
  const list = $("#hand-list");
  if (!room.hands.length) {
    fill(list, el("li", { class: "empty-line" }, t("no_hands")));
    return;
  }
  fill(list, room.hands.map((id) => {
    const invite = room.may("give_floor") ? action("give_floor", id, "button small primary")
      : room.may("manage_stage") ? action("invite_stage", id, "button small primary") : null;
    return el("li", { class: "hand-item" },
      el("span", { class: "hand-who" }, room.label(id)),
      el("span", { class: "hand-actions" }, invite, action("lower_hand", id, "button small subtle")));
  }));
}

/**
 * The hub's cameras (the teacher's, the classroom's RTSP/RTMP/WHIP ones): with two or more, the
 * teacher picks the one the classrooms see; the others are not sent (camera.main).
 */
function renderCameras(room) {
  const panel = $("#cameras-panel");
  const cameras = room.hubCameras();
  panel.hidden = cameras.length < 2 || !room.may("main_camera");
  if (panel.hidden) return;
  const items = cameras.map((pub) => {
    const main = room.mainCamera === pub.publication_id;
    const sent = room.mainCamera === null || main;
    // A hub classroom's devices are named (its cameras and encoders are Sources), not labelled
    // by their classroom, which they all share.
    const p = room.participant(pub.participant_id);
    const who = pub.participant_id === room.me ? t("you") : p.role === "host_classroom" ? p.name : room.label(pub.participant_id);
    return el("li", { class: `camera-item${main ? " main" : ""}`, dataset: { publication: pub.publication_id } },
      el("span", { class: "camera-who" }, who),
      el("span", { class: `camera-state${sent ? "" : " muted"}` }, t(main ? "camera_main" : sent ? "camera_sent" : "camera_held")),
      main ? null : el("button", { type: "button", class: "button small primary",
        dataset: { action: "main_camera", publication: pub.publication_id } }, t("camera_make_main")));
  });
  if (room.mainCamera !== null) {
    items.push(el("li", { class: "camera-item all" },
      el("button", { type: "button", class: "button small subtle", dataset: { action: "main_camera", publication: "" } },
        t("camera_show_all"))));
  }
  fill($("#camera-list"), items);
}

async function onAction(e) {
  const button = e.target.closest("button[data-action]");
  if (!button || !session) return;
  const id = button.dataset.participant;
  button.disabled = true;
  switch (button.dataset.action) {
    case "give_floor": await session.request("floor.give", { participant_id: id }); break;
    case "take_floor": await session.request("floor.take"); break;
    case "invite_stage": await session.request("stage.invite", { participant_id: id }); break;
    case "remove_stage": await session.request("stage.remove", { participant_id: id }); break;
    case "lower_hand": await session.request("hand.lower", { participant_id: id }); break;
    case "main_camera":
      await session.request("camera.main", { publication_id: button.dataset.publication || null });
      break;
    case "mute":
    case "unmute":
      await session.request("mute", { publication_id: button.dataset.publication, muted: button.dataset.action === "mute" });
      break;
    default: break;
  }
  button.disabled = false;
}
grid.addEventListener("click", onAction);
$("#hand-list").addEventListener("click", onAction);
$("#camera-list").addEventListener("click", onAction);

// Own media -------------------------------------------------------------------------------------

function renderRecording(room) {
  $("#live-recording").hidden = !room.recording;
  const button = $("#record-toggle");
  button.hidden = !room.may("record");
  button.dataset.recording = room.recording ? "true" : "false";
  setText(button, t(room.recording ? "record_stop" : "record_start"));
}

$("#record-toggle").addEventListener("click", async (e) => {
  const button = e.currentTarget;
  if (!session || !session.room) return;
  button.disabled = true;
  await session.request("recording.set", { recording: button.dataset.recording !== "true" });
  button.disabled = false;
});

function renderControls() {
  const want = session ? session.wantMuted : preMuted;
  const cam = $("#toggle-camera");
  const mic = $("#toggle-microphone");
  const scr = $("#toggle-screen");
  cam.setAttribute("aria-pressed", want.camera ? "false" : "true");
  setText(cam, t(want.camera ? "camera_on" : "camera_off"));
  mic.setAttribute("aria-pressed", want.microphone ? "false" : "true");
  setText(mic, t(want.microphone ? "microphone_on" : "microphone_off"));
  const sharing = Boolean(session && session.local.screen);
  scr.setAttribute("aria-pressed", sharing ? "true" : "false");
  setText(scr, t(sharing ? "screen_stop" : "screen_start"));
  scr.disabled = !session || !session.room;
  $("#self-off").hidden = !want.camera;
  $("#screen-tile").hidden = !sharing;
  previewVideo($("#screen-video"), sharing ? session.local.screen : null);
}

async function toggle(source) {
  if (!session) {
    // Before the lesson: switch the preview track itself.
    const got = await capture();
    preMuted[source] = !preMuted[source];
    if (got[source]) got[source].enabled = !preMuted[source];
    renderControls();
    return;
  }
  await session.setMuted(source, !session.wantMuted[source]);
  renderControls();
}
$("#toggle-camera").addEventListener("click", () => toggle("camera"));
$("#toggle-microphone").addEventListener("click", () => toggle("microphone"));
$("#toggle-screen").addEventListener("click", async () => {
  if (!session || !session.room) return;
  const button = $("#toggle-screen");
  button.disabled = true;
  if (session.local.screen) await session.stopScreen();
  else await session.startScreen();
  button.disabled = false;
  renderControls();
});

// Link quality ----------------------------------------------------------------------------------

async function updateQuality() {
  if (!session || !session.room) return;
  const stats = await session.inboundStats();
  const next = new Map();
  const fresh = new Map();
  for (const s of stats) {
    next.set(s.publication_id, s);
    if (s.kind !== "video" || !s.participant_id) continue;
    const q = linkQuality(lastStats.get(s.publication_id), s);
    if (q) fresh.set(s.participant_id, q);
  }
  lastStats = next;
  const changed = fresh.size !== quality.size || [...fresh].some(([id, q]) => quality.get(id) !== q);
  quality = fresh;
  if (changed) render();
}

// Sound, clock, start ---------------------------------------------------------------------------

media.onBlocked = () => { $("#sound-on").hidden = false; };
$("#sound-on").textContent = t("sound_blocked");
$("#sound-on").addEventListener("click", () => {
  $("#sound-on").hidden = true;
  media.unblock();
});

setInterval(() => {
  if (startedAt && root.dataset.status === "live") setText($("#live-elapsed"), formatDuration(Date.now() - startedAt));
}, 1000);

endButton.dataset.label = endButton.textContent.trim();
const status = root.dataset.status;
if (status === "live") {
  capture();
  begin();
} else if (status === "scheduled" && startButton) {
  capture();
  startButton.addEventListener("click", startLesson);
  renderControls();
} else {
  showMessage(status === "scheduled" ? "lesson_not_live" : "lesson_ended");
  $("#toggle-camera").disabled = true;
  $("#toggle-microphone").disabled = true;
  $("#toggle-screen").disabled = true;
}
