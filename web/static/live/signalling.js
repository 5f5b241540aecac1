// The signalling socket (GET /ws, docs/signalling.md): one envelope, request ids, replies,
// server events, a heartbeat and reconnection with back-off.
//
//   const sig = new Signalling({ token });          // token: a terminal's kt_… (else the cookie)
//   sig.addEventListener("ready", …);               // (re)connected and authenticated
//   sig.addEventListener("event", e => e.detail);   // every server event ({type: "event.…", …})
//   sig.addEventListener("closed", e => e.detail);  // {code, reason, final}
//   const reply = await sig.request("join", { lesson_id: 7 });  // rejects with SignalError
//
// The socket reconnects by itself after a drop (1 s, 2 s, 4 s … up to 30 s, with jitter), but
// not after close codes that say reconnecting would not help (ended, replaced, refused).

export const VERSION = 1;

// Close codes the server uses (docs/signalling.md, "Close codes").
export const CLOSE = Object.freeze({
  normal: 1000,
  goingAway: 1001,
  tooLarge: 1009,
  internal: 1011,
  moved: 4307,
  unauthenticated: 4401,
  slowClient: 4408,
  replaced: 4409,
  lessonEnded: 4410,
  flood: 4429,
});

// After these the client stays closed until told otherwise (`connect()` again). Any other
// close — a drop, a restart (1001), even 1000 that this client did not ask for with `close()`
// — is a reason to reconnect.
const FINAL = new Set([CLOSE.unauthenticated, CLOSE.replaced, CLOSE.lessonEnded]);

const HEARTBEAT_MS = 15000; // send `ping` this often …
const HEARTBEAT_TIMEOUT_MS = 10000; // … and give up on a socket that does not answer in time
const REQUEST_TIMEOUT_MS = 20000;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const STABLE_MS = 20000; // a connection this old resets the back-off
const MOVED_SPREAD_MS = 500; // after 4307, reconnect within this

export class SignalError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = "SignalError";
    this.code = code; // an error code from the server, or "disconnected" / "timeout"
  }
}

export function socketUrl(path = "/ws") {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

export class Signalling extends EventTarget {
  constructor({ url = socketUrl(), token = null } = {}) {
    super();
    this.url = url;
    this.token = token;
    this.ws = null;
    this.ready = false;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, timer}
    this.attempt = 0;
    this.stopped = true;
    this.retryTimer = null;
    this.heartbeatTimer = null;
    this.openedAt = 0;
    this.onOnline = () => { if (!this.ws && !this.stopped) this.reconnectNow(); };
  }

  connect() {
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    this.open();
  }

  /** Close for good (no reconnect). */
  close(code = CLOSE.normal, reason = "closed") {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close(code, reason);
  }

  /** Drop the current socket and connect again at once (after a media failure, say). */
  reconnectNow() {
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    if (this.ws) {
      this.ws.close(4000, "reconnecting"); // the close handler schedules the reconnect
    } else {
      this.open();
    }
  }

  open() {
    clearTimeout(this.retryTimer);
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.ready = false;
    ws.addEventListener("open", () => this.onOpen(ws));
    ws.addEventListener("message", (e) => this.onMessage(ws, e));
    ws.addEventListener("close", (e) => this.onClose(ws, e));
    // "error" is always followed by "close", where it is handled.
  }

  async onOpen(ws) {
    if (ws !== this.ws) return;
    this.openedAt = Date.now();
    this.startHeartbeat(ws);
    if (this.token) {
      try {
        await this.request("auth", { token: this.token });
      } catch (err) {
        return; // the server closes with 4401; onClose reports it
      }
    }
    if (ws !== this.ws) return;
    this.ready = true;
    this.emit("ready", {});
  }

  onMessage(ws, event) {
    if (ws !== this.ws) return;
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      console.warn("kelian: a signalling frame that is not JSON", event.data);
      return;
    }
    if (msg.type === "ok" || msg.type === "error") {
      const waiting = msg.id != null ? this.pending.get(msg.id) : undefined;
      if (waiting) {
        this.pending.delete(msg.id);
        clearTimeout(waiting.timer);
        if (msg.type === "ok") waiting.resolve(msg);
        else waiting.reject(new SignalError(msg.code, msg.message));
      } else if (msg.type === "error") {
        this.emit("error", { code: msg.code, message: msg.message });
      }
      return;
    }
    this.emit("event", msg);
  }

  onClose(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.ready = false;
    this.stopHeartbeat();
    for (const [, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      waiting.reject(new SignalError("disconnected", "The connection closed"));
    }
    this.pending.clear();
    const final = this.stopped || FINAL.has(event.code);
    this.emit("closed", { code: event.code, reason: event.reason, final });
    if (!final) {
      if (Date.now() - this.openedAt > STABLE_MS) this.attempt = 0;
      // 4307: the node drains and the lesson goes on elsewhere; come back at once (spread
      // over a moment, so a whole node's clients do not arrive in the same millisecond).
      this.scheduleReconnect(event.code === CLOSE.moved ? MOVED_SPREAD_MS : null);
    }
  }

  scheduleReconnect(spreadMs = null) {
    if (this.stopped) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = spreadMs != null ? Math.random() * spreadMs : base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    this.emit("retrying", { delay, attempt: this.attempt });
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  /** Send a request and wait for its `ok` (resolves with the reply) or `error` (rejects). */
  request(type, fields = {}) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new SignalError("disconnected", "Not connected"));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SignalError("timeout", `No reply to ${type}`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ v: VERSION, type, id, ...fields }));
    });
  }

  startHeartbeat(ws) {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => {
      if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
      const sent = Date.now();
      const timer = setTimeout(() => {
        // No answer: the socket is dead even if the browser has not noticed yet.
        if (ws === this.ws) ws.close(4000, "heartbeat");
      }, HEARTBEAT_TIMEOUT_MS);
      this.request("ping").then(
        () => { clearTimeout(timer); this.latencyMs = Date.now() - sent; },
        () => {}, // a disconnect is handled by onClose; a timeout by the timer above
      );
    }, HEARTBEAT_MS);
  }

  stopHeartbeat() {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}
