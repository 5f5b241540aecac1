// The observer page (/lessons/{id}/live for anyone but the lesson's teacher): receive-only.
// Observing teachers comment in master-teacher lessons (and may be brought on stage, when the
// page publishes their camera and microphone), ask questions in famous-school lessons; an
// inspector watches silently. A lesson that has not started is joined as soon as it is live.

import { captureCamera, MediaElements, previewVideo, webrtcUnavailable } from "./media.js";
import { ChatPanel, QuestionsPanel, showConnection } from "./panels.js";
import { LiveSession } from "./session.js";
import { $, coalesce, el, fill, loadStrings, Notices, setText, t } from "./ui.js";

const POLL_MS = 10000;

loadStrings();

const root = $("#watch");
const lessonId = Number(root.dataset.lesson);
const notices = new Notices($("#live-notices"));
const media = new MediaElements($("#live-audio"));
let session = null;
let chat = null;
let questions = null;

function showMessage(key, home = false) {
  $("#console-message").hidden = !key;
  setText($("#console-message-text"), key ? t(key) : "");
  $("#console-home").hidden = !home;
}

async function captureForStage() {
  const got = await captureCamera();
  for (const key of got.problems) notices.show({ key, level: "error", sticky: `capture-${key}` });
  previewVideo($("#self-video"), got.camera);
  return got;
}

function begin() {
  const problem = webrtcUnavailable();
  if (problem) {
    showMessage(problem);
    return;
  }
  root.dataset.status = "live";
  setText($("#live-status"), t("state_live"));
  session = new LiveSession({ lessonId, getLocal: captureForStage });
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
  session.addEventListener("ended", () => finish("lesson_ended"));
  session.addEventListener("unavailable", (e) => finish(e.detail.code === "lesson_not_live" ? "lesson_not_live" : "no_seat"));
  session.addEventListener("closed", (e) => finish(e.detail.code === 4409 ? "replaced" : "unauthenticated"));
  session.start();
}

function finish(key) {
  $("#live-recording").hidden = true;
  if (session) session.stop();
  media.clear();
  previewVideo($("#self-video"), null);
  $("#self-tile").hidden = true;
  root.classList.add("finished");
  if (key === "lesson_ended") {
    root.dataset.status = "ended";
    setText($("#live-status"), t("state_ended"));
  }
  fill($("#watch-stage"), el("figure", { class: "tile placeholder main" }, el("p", {}, t(key))));
  fill($("#watch-strip"));
  setText($("#live-connection"), "");
  $("#live-connection").dataset.state = "";
  showMessage(key, true);
}

function tile(video, caption, cls = "") {
  return el("figure", { class: `tile ${cls}` }, video, caption ? el("figcaption", {}, caption) : null);
}

function render() {
  if (!session || !session.room) return;
  const room = session.room;
  const received = session.received();
  media.prune(new Set(received.map((r) => r.publicationId)));
  for (const r of received) if (r.kind === "audio") media.audio(r.publicationId, r.track);
  const videos = received.filter((r) => r.kind === "video" && !r.muted);
  const hub = videos.filter((r) => r.participantId && room.isHub(r.participantId));
  const screen = hub.find((r) => r.source === "screen");
  const cameras = hub.filter((r) => r.source === "camera");
  const others = videos.filter((r) => !hub.includes(r));
  const main = screen || cameras[0];

  fill($("#watch-stage"), main
    ? tile(media.video(main.publicationId, main.track), main === screen ? t("courseware") : room.label(main.participantId), "main")
    : el("figure", { class: "tile placeholder main" }, el("p", {}, t("waiting_for_hub"))));
  const strip = [];
  for (const cam of cameras) if (cam !== main) strip.push(tile(media.video(cam.publicationId, cam.track), room.label(cam.participantId)));
  for (const r of others) {
    strip.push(tile(media.video(r.publicationId, r.track), t("speaking", { name: room.label(r.participantId) }),
      r.participantId === room.floor || room.onStage(r.participantId) ? "floor" : ""));
  }
  fill($("#watch-strip"), strip);

  $("#self-tile").hidden = !room.onStage();
  chat.render();
  if (questions) questions.render();
  $("#live-recording").hidden = !room.recording;
  const askForm = $("#ask-form");
  if (askForm) askForm.hidden = !room.may("ask_question");
  const hand = $("#watch-hand");
  hand.hidden = !room.may("raise_hand");
  hand.setAttribute("aria-pressed", room.handRaised() ? "true" : "false");
  setText($("#watch-hand-label"), room.handRaised() ? t("hand_lower") : t("hand_raise"));
}

$("#watch-hand").addEventListener("click", () => {
  if (session && session.room) session.request(session.room.handRaised() ? "hand.lower" : "hand.raise");
});

const askForm = $("#ask-form");
if (askForm) {
  askForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("#ask-input");
    const text = input.value.trim();
    if (!text || !session) return;
    const reply = await session.request("question.ask", { text });
    if (reply) input.value = "";
  });
}

media.onBlocked = () => { $("#sound-on").hidden = false; };
$("#sound-on").textContent = t("sound_blocked");
$("#sound-on").addEventListener("click", () => {
  $("#sound-on").hidden = true;
  media.unblock();
});

/** Wait for a scheduled lesson to go live (the teacher starts it), then join. */
async function waitForStart() {
  try {
    const response = await fetch(`/api/v1/lessons/${lessonId}`, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (response.ok) {
      const lesson = await response.json();
      if (lesson.status === "live") return begin();
      if (lesson.status !== "scheduled") return finish("lesson_ended");
    }
  } catch {
    // Offline for a moment: try again.
  }
  setTimeout(waitForStart, POLL_MS);
}

const status = root.dataset.status;
if (status === "live") begin();
else if (status === "scheduled") waitForStart();
else finish("lesson_ended");
