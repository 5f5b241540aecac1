// WebRTC for a live lesson (docs/signalling.md, "Media"): capture, the send connection that
// publishes, and the receive connection that applies the relay's offers.
//
// Every participant holds two RTCPeerConnections with the relay: a Publisher (it offers, the
// relay answers through `publish`) and a Receiver (the relay offers in `event.offer`, it answers
// with `answer`). Media failures become message keys for the page (see `mediaProblem`), never
// just a console error.

// Classroom microphones sit near loudspeakers: the browser's echo cancellation, noise
// suppression and gain control stay on.
export const AUDIO_CONSTRAINTS = Object.freeze({
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
});

export const VIDEO_CONSTRAINTS = Object.freeze({
  width: { ideal: 1280 },
  height: { ideal: 720 },
  frameRate: { ideal: 25, max: 30 },
});

// A school LAN has no use for public STUN servers: the relay offers its host candidates. Sites
// behind firewalls get STUN/TURN servers in the `join` reply (see `rtcConfig`).
const RTC_CONFIG = Object.freeze({ iceServers: [], bundlePolicy: "max-bundle" });

/** The RTCConfiguration a `join` reply asks for: its ICE servers and transport policy. */
export function rtcConfig(reply) {
  const iceServers = (reply.ice_servers || []).map(({ urls, username, credential }) =>
    username ? { urls, username, credential } : { urls });
  return { ...RTC_CONFIG, iceServers, iceTransportPolicy: reply.ice_transport_policy || "all" };
}

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** Why this page cannot use the camera and microphone at all, or null. */
export function captureUnavailable() {
  if (!window.isSecureContext && !LOCAL_HOSTS.has(location.hostname)) return "needs_https";
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return window.isSecureContext ? "no_media_support" : "needs_https";
  }
  return null;
}

export function webrtcUnavailable() {
  return typeof RTCPeerConnection === "undefined" ? "no_webrtc" : null;
}

/** The message key for a capture failure (getUserMedia / getDisplayMedia). */
export function mediaProblem(err, what = "camera") {
  const name = err && err.name;
  if (what === "screen") {
    if (name === "NotAllowedError" || name === "AbortError") return "screen_cancelled";
    return "screen_failed";
  }
  switch (name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
      return "media_denied";
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return what === "microphone" ? "no_microphone" : what === "camera" ? "no_camera" : "no_devices";
    case "NotReadableError":
    case "TrackStartError":
      return "device_busy";
    case "SecurityError":
      return "needs_https";
    default:
      return "media_failed";
  }
}

/**
 * The classroom's camera and microphone. Asks for both; when one is missing, keeps the other
 * and reports the missing one. Resolves {camera, microphone, problems: [key…]}.
 */
export async function captureCamera() {
  const unavailable = captureUnavailable();
  if (unavailable) return { camera: null, microphone: null, problems: [unavailable] };
  const md = navigator.mediaDevices;
  try {
    const stream = await md.getUserMedia({ audio: { ...AUDIO_CONSTRAINTS }, video: { ...VIDEO_CONSTRAINTS } });
    return {
      camera: stream.getVideoTracks()[0] || null,
      microphone: stream.getAudioTracks()[0] || null,
      problems: [],
    };
  } catch (err) {
    if (err && (err.name === "NotAllowedError" || err.name === "SecurityError")) {
      return { camera: null, microphone: null, problems: [mediaProblem(err)] };
    }
  }
  // One of the two is missing or busy: take what there is.
  const result = { camera: null, microphone: null, problems: [] };
  try {
    result.camera = (await md.getUserMedia({ video: { ...VIDEO_CONSTRAINTS } })).getVideoTracks()[0];
  } catch (err) {
    result.problems.push(mediaProblem(err, "camera"));
  }
  try {
    result.microphone = (await md.getUserMedia({ audio: { ...AUDIO_CONSTRAINTS } })).getAudioTracks()[0];
  } catch (err) {
    result.problems.push(mediaProblem(err, "microphone"));
  }
  return result;
}

/** Courseware: a screen, window or tab. Resolves the video track or throws {key}. */
export async function captureScreen() {
  const md = navigator.mediaDevices;
  if (!md || !md.getDisplayMedia) {
    throw Object.assign(new Error("getDisplayMedia is unavailable"), {
      key: captureUnavailable() || "screen_unsupported",
    });
  }
  try {
    const stream = await md.getDisplayMedia({ video: { frameRate: { ideal: 10, max: 15 } }, audio: false });
    const track = stream.getVideoTracks()[0];
    if ("contentHint" in track) track.contentHint = "detail"; // sharp text over smooth motion
    return track;
  } catch (err) {
    throw Object.assign(err instanceof Error ? err : new Error(String(err)), {
      key: mediaProblem(err, "screen"),
    });
  }
}

/** The m-sections of an SDP: [{mid, kind, direction, stream, track}]. */
export function sdpSections(sdp) {
  const sections = [];
  let current = null;
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("m=")) {
      current = { kind: line.slice(2).split(" ")[0], mid: null, direction: "sendrecv", stream: null, track: null };
      sections.push(current);
    } else if (current && line.startsWith("a=mid:")) {
      current.mid = line.slice(6);
    } else if (current && line.startsWith("a=msid:")) {
      const [stream, track] = line.slice(7).split(" ");
      current.stream = stream || null;
      current.track = track || null;
    } else if (current && /^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line)) {
      current.direction = line.slice(2);
    }
  }
  return sections;
}

class Connection extends EventTarget {
  constructor(signalling, role, config = RTC_CONFIG) {
    super();
    this.signalling = signalling;
    this.role = role; // "send" | "receive"
    this.pc = new RTCPeerConnection(config);
    this.closed = false;
    this.pc.addEventListener("connectionstatechange", () => {
      if (!this.closed) this.emit("state", { role: this.role, state: this.pc.connectionState });
    });
  }

  get state() {
    return this.pc.connectionState;
  }

  close() {
    this.closed = true;
    this.pc.close();
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}

/** The send connection: camera, microphone and (for the hub) courseware. */
export class Publisher extends Connection {
  constructor(signalling, config = RTC_CONFIG) {
    super(signalling, "send", config);
    this.transceivers = new Map(); // source -> RTCRtpTransceiver
    this.stream = new MediaStream(); // camera and microphone together, for lip sync
    this.busy = Promise.resolve();
  }

  /** Publish (or renegotiate) `tracks`: {camera, microphone, screen}; null entries are skipped. */
  publish(tracks) {
    this.busy = this.busy.catch(() => {}).then(() => this._publish(tracks));
    return this.busy;
  }

  async _publish(tracks) {
    let added = false;
    for (const [source, track] of Object.entries(tracks)) {
      if (!track || this.closed) continue;
      const existing = this.transceivers.get(source);
      if (existing) {
        if (existing.sender.track !== track) await existing.sender.replaceTrack(track);
        continue;
      }
      const streams = source === "screen" ? [new MediaStream([track])] : [this.stream];
      const init = { direction: "sendonly", streams };
      if (source === "camera") init.sendEncodings = [{ maxBitrate: 1_500_000 }];
      if (source === "screen") init.sendEncodings = [{ maxBitrate: 1_200_000 }];
      this.transceivers.set(source, this.pc.addTransceiver(track, init));
      added = true;
    }
    if (added && !this.closed) await this.negotiate();
  }

  async negotiate() {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    const sources = {};
    for (const [source, transceiver] of this.transceivers) {
      if (transceiver.mid != null) sources[transceiver.mid] = source;
    }
    const reply = await this.signalling.request("publish", { sdp: this.pc.localDescription.sdp, sources });
    if (this.closed) return;
    await this.pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
  }

  /** Swap the track of an existing publication (or send nothing with null). */
  async replace(source, track) {
    const transceiver = this.transceivers.get(source);
    if (transceiver) await transceiver.sender.replaceTrack(track);
  }

  has(source) {
    return this.transceivers.has(source);
  }

  async stats() {
    return this.pc.getStats();
  }
}

/**
 * The receive connection. Applies the relay's offers one at a time and answers them; after
 * each, `tracks()` lists what arrives: [{mid, kind, track, publicationId, participantId}].
 * The relay names each m-line's Publication in its msid ("<participant> <publication>").
 */
export class Receiver extends Connection {
  constructor(signalling, config = RTC_CONFIG) {
    super(signalling, "receive", config);
    this.sections = [];
    this.chain = Promise.resolve();
  }

  applyOffer(sdp) {
    const step = this.chain.catch(() => {}).then(() => this._apply(sdp));
    this.chain = step;
    return step;
  }

  async _apply(sdp) {
    if (this.closed) return;
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    this.sections = sdpSections(sdp);
    await this.signalling.request("answer", { sdp: this.pc.localDescription.sdp });
    this.emit("tracks", {});
  }

  tracks() {
    const byMid = new Map(this.pc.getTransceivers().map((t) => [t.mid, t]));
    const out = [];
    for (const section of this.sections) {
      if (section.direction !== "sendonly" && section.direction !== "sendrecv") continue;
      const transceiver = byMid.get(section.mid);
      if (!transceiver || !transceiver.receiver.track) continue;
      out.push({
        mid: section.mid,
        kind: section.kind,
        track: transceiver.receiver.track,
        publicationId: section.track,
        participantId: section.stream,
      });
    }
    return out;
  }

  /** inbound-rtp figures by mid: {mid: {kind, framesDecoded, totalSamplesReceived, …}}. */
  async inbound() {
    const report = await this.pc.getStats();
    const out = {};
    report.forEach((s) => {
      if (s.type !== "inbound-rtp" || s.mid == null) return;
      out[s.mid] = {
        kind: s.kind,
        framesDecoded: s.framesDecoded || 0,
        framesPerSecond: s.framesPerSecond || 0,
        frameWidth: s.frameWidth || 0,
        frameHeight: s.frameHeight || 0,
        totalSamplesReceived: s.totalSamplesReceived || 0,
        packetsReceived: s.packetsReceived || 0,
        packetsLost: s.packetsLost || 0,
        jitter: s.jitter || 0,
        bytesReceived: s.bytesReceived || 0,
        freezeCount: s.freezeCount || 0,
        totalFreezesDuration: s.totalFreezesDuration || 0,
      };
    });
    return out;
  }
}

/**
 * Keeps one <video> per received video track and one <audio> per audio track, keyed by a
 * stable name (the publication id), so a renegotiation never restarts playback.
 */
export class MediaElements {
  constructor(audioHost) {
    this.audioHost = audioHost; // where <audio> elements live (hidden)
    this.videos = new Map(); // key -> <video>
    this.audios = new Map(); // key -> <audio>
    this.blocked = false; // the browser refused to play sound without a tap
    this.onBlocked = null;
  }

  video(key, track) {
    let el = this.videos.get(key);
    if (!el) {
      el = document.createElement("video");
      el.autoplay = true;
      el.playsInline = true;
      el.muted = true; // sound comes through the <audio> elements
      this.videos.set(key, el);
    }
    if (!el.srcObject || el.srcObject.getVideoTracks()[0] !== track) {
      el.srcObject = new MediaStream([track]);
      el.play().catch(() => {});
    }
    return el;
  }

  audio(key, track) {
    let el = this.audios.get(key);
    if (!el) {
      el = document.createElement("audio");
      el.autoplay = true;
      this.audios.set(key, el);
      this.audioHost.append(el);
    }
    if (!el.srcObject || el.srcObject.getAudioTracks()[0] !== track) {
      el.srcObject = new MediaStream([track]);
      this.play(el);
    }
    return el;
  }

  play(el) {
    el.play().catch((err) => {
      if (err && err.name === "NotAllowedError") {
        this.blocked = true;
        if (this.onBlocked) this.onBlocked();
      }
    });
  }

  /** After a tap: play every sound the browser held back. */
  unblock() {
    this.blocked = false;
    for (const el of this.audios.values()) this.play(el);
  }

  /** Drop the elements whose key is not in `keep`. */
  prune(keep) {
    for (const [key, el] of this.videos) {
      if (!keep.has(key)) { el.srcObject = null; el.remove(); this.videos.delete(key); }
    }
    for (const [key, el] of this.audios) {
      if (!keep.has(key)) { el.srcObject = null; el.remove(); this.audios.delete(key); }
    }
  }

  clear() {
    this.prune(new Set());
  }
}

/** A small preview of a local track (muted, mirrored by CSS for the camera). */
export function previewVideo(el, track) {
  if (!track) {
    el.srcObject = null;
    return;
  }
  if (!el.srcObject || el.srcObject.getVideoTracks()[0] !== track) {
    el.srcObject = new MediaStream([track]);
    el.muted = true;
    el.play().catch(() => {});
  }
}
