// One participant in one live lesson: the socket, the room state, both media connections.
//
// The session joins when the socket is ready and joins again after every reconnect (the server
// replaces the earlier seat), so a dropped network heals by itself. It publishes what the
// lesson-kind rules allow this participant, applies the relay's offers, and reports what the
// page should say (`notice` events carry message keys, never raw errors).
//
// Events: status {state}, joined, change {msg}, media, notice {key, level}, ended,
// unavailable {code, message}, closed {code, final}.

import { CLOSE, Signalling, SignalError } from "./signalling.js";
import { captureScreen, Publisher, Receiver, rtcConfig } from "./media.js";
import { RoomState } from "./room.js";

const MEDIA_FAILED_GRACE_MS = 4000;
const GIVE_UP_CODES = new Set(["lesson_not_live", "not_found", "forbidden"]);

export class LiveSession extends EventTarget {
  /**
   * lessonId: the lesson to join; token: a terminal's token (people use their cookie);
   * getLocal: async () => ({camera, microphone}) — called once, when this participant may
   * publish (capture is the page's business: it shows previews and problems).
   */
  constructor({ lessonId, token = null, getLocal = null }) {
    super();
    this.lessonId = lessonId;
    this.getLocal = getLocal;
    this.local = { camera: null, microphone: null, screen: null };
    this.captured = false;
    this.wantMuted = { camera: false, microphone: false, screen: false };
    this.room = null;
    this.rtcConfig = undefined; // the join reply's ICE servers (media.js `rtcConfig`)
    this.publisher = null;
    this.receiver = null;
    this.offersReceived = 0; // renegotiations by the relay (diagnostics and tests)
    this.finished = false;
    this.joining = false;
    this.signalling = new Signalling({ token });
    this.signalling.addEventListener("ready", () => this.join());
    this.signalling.addEventListener("event", (e) => this.onEvent(e.detail));
    this.signalling.addEventListener("closed", (e) => this.onClosed(e.detail));
    this.signalling.addEventListener("retrying", () => this.status("reconnecting"));
    this.signalling.addEventListener("error", (e) => this.onSocketError(e.detail));
  }

  start() {
    this.status("connecting");
    this.signalling.connect();
  }

  /** Leave for good: the socket closes, the media connections close, tracks stop. */
  stop() {
    this.finished = true;
    this.closeMedia();
    this.signalling.close();
    for (const track of Object.values(this.local)) if (track) track.stop();
  }

  status(state) {
    this.emit("status", { state });
  }

  notice(key, level = "info", extra = {}) {
    this.emit("notice", { key, level, ...extra });
  }

  // Joining ------------------------------------------------------------------------------------

  async join() {
    if (this.finished || this.joining) return;
    this.joining = true;
    this.status("joining");
    let reply;
    try {
      reply = await this.signalling.request("join", { lesson_id: this.lessonId });
    } catch (err) {
      this.joining = false;
      if (err instanceof SignalError && GIVE_UP_CODES.has(err.code)) {
        this.finished = true;
        this.signalling.close();
        this.emit("unavailable", { code: err.code, message: err.message });
      }
      return; // a disconnect: the socket reconnects and `ready` joins again
    }
    this.joining = false;
    this.room = new RoomState(reply.room);
    this.rtcConfig = rtcConfig(reply); // TURN credentials are fresh on every join
    this.closeMedia();
    this.receiver = this.watch(new Receiver(this.signalling, this.rtcConfig));
    this.receiver.addEventListener("tracks", () => this.emit("media", {}));
    this.status("joined");
    this.emit("joined", {});
    this.emit("media", {});
    await this.publishAllowed();
  }

  watch(connection) {
    connection.addEventListener("state", (e) => this.onMediaState(connection, e.detail.state));
    return connection;
  }

  closeMedia() {
    if (this.publisher) this.publisher.close();
    if (this.receiver) this.receiver.close();
    this.publisher = null;
    this.receiver = null;
  }

  // Publishing ---------------------------------------------------------------------------------

  async ensureLocal() {
    if (this.captured || !this.getLocal) return;
    this.captured = true;
    const got = await this.getLocal();
    this.local.camera = got.camera || null;
    this.local.microphone = got.microphone || null;
    this.applyLocalMute();
  }

  applyLocalMute() {
    for (const source of ["camera", "microphone"]) {
      const track = this.local[source];
      if (track) track.enabled = !this.wantMuted[source];
    }
  }

  async publishAllowed() {
    if (!this.room) return;
    const allowed = this.room.allowedSources();
    if (!allowed.includes("camera") && !allowed.includes("microphone")) return;
    await this.ensureLocal();
    const tracks = {};
    for (const source of ["camera", "microphone", "screen"]) {
      if (allowed.includes(source) && this.local[source]) tracks[source] = this.local[source];
    }
    if (!Object.keys(tracks).length || !this.room) return;
    if (!this.publisher) this.publisher = this.watch(new Publisher(this.signalling, this.rtcConfig));
    try {
      await this.publisher.publish(tracks);
    } catch (err) {
      this.reportRequestError(err, "publish_failed");
    }
  }

  /** Stop publishing (sent back from the stage). */
  unpublish() {
    if (this.publisher) this.publisher.close();
    this.publisher = null;
  }

  /** Camera or microphone on/off: the track sends nothing and the relay stops forwarding. */
  async setMuted(source, muted) {
    this.wantMuted[source] = muted;
    const track = this.local[source];
    if (track && source !== "screen") track.enabled = !muted;
    const pub = this.room && this.room.publicationOf(this.room.me, source);
    if (pub && pub.muted !== muted) await this.request("mute", { publication_id: pub.publication_id, muted });
    this.emit("change", {});
  }

  /** Share courseware (a screen, window or tab). */
  async startScreen() {
    let track;
    try {
      track = await captureScreen();
    } catch (err) {
      this.notice(err.key || "screen_failed", err.key === "screen_cancelled" ? "info" : "error");
      return false;
    }
    if (this.local.screen) this.local.screen.stop();
    this.local.screen = track;
    track.addEventListener("ended", () => {
      if (this.local.screen === track) this.stopScreen(); // "Stop sharing" in the browser bar
    });
    this.wantMuted.screen = false;
    if (!this.publisher) this.publisher = this.watch(new Publisher(this.signalling, this.rtcConfig));
    try {
      if (this.publisher.has("screen")) {
        await this.publisher.replace("screen", track);
        await this.setMuted("screen", false);
      } else {
        await this.publisher.publish({ screen: track });
      }
    } catch (err) {
      this.reportRequestError(err, "publish_failed");
      return false;
    }
    this.emit("change", {});
    return true;
  }

  async stopScreen() {
    const track = this.local.screen;
    this.local.screen = null;
    if (track) track.stop();
    if (this.publisher) await this.publisher.replace("screen", null);
    await this.setMuted("screen", true);
  }

  // Requests -----------------------------------------------------------------------------------

  /** A request whose failure the page shows as a message; resolves the reply or null. */
  async request(type, fields = {}) {
    try {
      return await this.signalling.request(type, fields);
    } catch (err) {
      this.reportRequestError(err, "request_failed");
      return null;
    }
  }

  reportRequestError(err, fallback) {
    if (err instanceof SignalError) {
      if (err.code === "disconnected" || err.code === "timeout") this.notice("request_disconnected", "error");
      else if (err.code === "forbidden") this.notice("request_forbidden", "error");
      else this.notice(fallback, "error", { detail: err.message });
    } else {
      console.error("kelian:", err);
      this.notice(fallback, "error");
    }
  }

  // Events -------------------------------------------------------------------------------------

  onEvent(msg) {
    if (!this.room) return;
    switch (msg.type) {
      case "event.offer":
        this.offersReceived += 1;
        if (!this.receiver) this.receiver = this.watch(new Receiver(this.signalling, this.rtcConfig));
        this.receiver.applyOffer(msg.sdp).catch((err) => {
          if (!this.receiver || this.receiver.closed) return;
          console.error("kelian: applying the relay's offer failed", err);
          this.notice("receive_failed", "error");
        });
        return;
      case "event.notice":
        this.onNotice(msg);
        return;
      case "event.lesson.ended":
        this.finish("ended");
        return;
      default:
        break;
    }
    const wasOnStage = this.room.onStage();
    if (this.room.apply(msg)) {
      if (msg.type === "event.publication.added" && msg.publication.participant_id === this.room.me) {
        const source = msg.publication.source;
        if (this.wantMuted[source] && !msg.publication.muted) {
          this.request("mute", { publication_id: msg.publication.publication_id, muted: true });
        }
      }
      if (msg.type === "event.stage.changed" && wasOnStage !== this.room.onStage()) {
        if (this.room.onStage()) this.publishAllowed();
        else this.unpublish();
      }
      this.emit("change", { msg });
      if (msg.type.startsWith("event.publication.")) this.emit("media", {});
    }
  }

  onNotice(msg) {
    switch (msg.code) {
      case "video_paused":
        this.notice("video_paused", "warning", { sticky: "link" });
        break;
      case "video_resumed":
        this.notice("video_resumed", "info", { sticky: "link", clear: true });
        break;
      case "transport_failed":
        // The relay dropped both connections: make new ones and publish again.
        this.notice("media_reconnecting", "warning");
        this.closeMedia();
        this.receiver = this.watch(new Receiver(this.signalling, this.rtcConfig));
        this.receiver.addEventListener("tracks", () => this.emit("media", {}));
        this.emit("media", {});
        this.publishAllowed();
        break;
      case "publication_refused":
        this.notice("publication_refused", "error");
        break;
      case "recording_failed":
        this.notice("recording_failed", "error", { detail: msg.message });
        break;
      case "lesson_ending_soon":
        this.notice("lesson_ending_soon", "warning", { sticky: "ending" });
        break;
      case "classroom_not_joined":
        // One slot per classroom: the console clears it when the classroom comes in.
        this.notice("classroom_not_joined", "warning", {
          sticky: `absent:${msg.classroom}`,
          vars: { name: msg.classroom || "" },
        });
        break;
      case "source_unreachable":
      case "source_reconnecting":
      case "source_restored":
        // A classroom's RTSP camera: one slot per classroom, "restored" clears the others.
        this.notice(msg.code, msg.code === "source_restored" ? "info" : "warning", {
          sticky: `camera:${msg.classroom}`,
          clear: msg.code === "source_restored",
          vars: { name: msg.classroom || "" },
        });
        break;
      case "source_unsupported":
        this.notice("source_unsupported", "warning", {
          sticky: `encoder:${msg.classroom}`,
          vars: { name: msg.classroom || "" },
        });
        break;
      default:
        break;
    }
  }

  onMediaState(connection, state) {
    if (connection.closed) return;
    if (state === "connected") {
      this.emit("notice", { key: "media_connected", level: "info", sticky: "media", clear: true, quiet: true });
    } else if (state === "disconnected") {
      this.notice("media_unstable", "warning", { sticky: "media" });
    } else if (state === "failed") {
      this.notice("media_lost", "error", { sticky: "media" });
      // The relay may tell us (transport_failed); if it does not, join afresh.
      setTimeout(() => {
        if (!connection.closed && connection.state === "failed" && !this.finished) {
          this.signalling.reconnectNow();
        }
      }, MEDIA_FAILED_GRACE_MS);
    }
  }

  onSocketError(detail) {
    if (detail.code === "throttled") this.notice("throttled", "error");
  }

  onClosed({ code, final }) {
    if (this.finished) return;
    this.closeMedia();
    this.emit("media", {});
    if (code === CLOSE.lessonEnded) {
      this.finish("ended");
    } else if (final) {
      this.finished = true;
      this.emit("closed", { code, final });
    } else {
      this.status("reconnecting");
    }
  }

  finish(why) {
    if (this.finished) return;
    this.stop();
    this.emit(why, {});
  }

  // Reading ------------------------------------------------------------------------------------

  /** What arrives now: [{publicationId, participantId, source, kind, track}]. */
  received() {
    if (!this.receiver || !this.room) return [];
    return this.receiver.tracks().map((t) => {
      const pub = t.publicationId ? this.room.publication(t.publicationId) : null;
      const participantId = pub ? pub.participant_id : t.participantId;
      return {
        mid: t.mid,
        publicationId: pub ? pub.publication_id : `mid-${t.mid}`,
        participantId: this.room.participant(participantId) ? participantId : null,
        source: pub ? pub.source : t.kind === "audio" ? "microphone" : "camera",
        muted: pub ? pub.muted : false,
        kind: t.kind,
        track: t.track,
      };
    });
  }

  /** Decoding figures per received publication (also read by tests/pages/test_live_browser.py). */
  async inboundStats() {
    if (!this.receiver) return [];
    const byMid = await this.receiver.inbound();
    return this.received().map((r) => ({
      publication_id: r.publicationId,
      participant_id: r.participantId,
      label: r.participantId && this.room ? this.room.label(r.participantId) : "",
      source: r.source,
      kind: r.kind,
      ...(byMid[r.mid] || {}),
    }));
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}
