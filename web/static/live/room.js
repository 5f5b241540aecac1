// The room state a participant sees: the `join` reply's `room`, kept current by the server's
// events (docs/signalling.md, "Server messages"). The pages read it; only the server decides.

export const HUB_ROLES = new Set(["host", "host_classroom"]);
const CHAT_KEPT = 200;

export class RoomState {
  constructor(room) {
    this.lessonId = room.lesson_id;
    this.title = room.title;
    this.kind = room.kind;
    this.you = room.you;
    this.participants = new Map(room.participants.map((p) => [p.participant_id, p]));
    this.publications = new Map(room.publications.map((p) => [p.publication_id, p]));
    this.floor = room.floor;
    this.hands = [...room.hands];
    this.stage = [...room.stage];
    this.chat = [...room.chat];
    this.questions = new Map(room.questions.map((q) => [q.question_id, q]));
    this.speaker = null;
    this.recording = Boolean(room.recording);
    this.mainCamera = room.main_camera || null;
  }

  get me() {
    return this.you.participant_id;
  }

  get role() {
    return this.you.role;
  }

  /** Apply one server event; returns whether anything the pages show changed. */
  apply(msg) {
    switch (msg.type) {
      case "event.participant.joined":
        this.participants.set(msg.participant.participant_id, msg.participant);
        return true;
      case "event.participant.left":
        this.participants.delete(msg.participant_id);
        for (const [id, pub] of this.publications) {
          if (pub.participant_id === msg.participant_id) this.publications.delete(id);
        }
        this.hands = this.hands.filter((id) => id !== msg.participant_id);
        if (this.floor === msg.participant_id) this.floor = null;
        if (this.speaker === msg.participant_id) this.speaker = null;
        return true;
      case "event.publication.added":
        this.publications.set(msg.publication.publication_id, msg.publication);
        return true;
      case "event.publication.removed":
        return this.publications.delete(msg.publication_id);
      case "event.publication.muted": {
        const pub = this.publications.get(msg.publication_id);
        if (pub) pub.muted = msg.muted;
        return Boolean(pub);
      }
      case "event.speaker.active":
        this.speaker = msg.participant_id;
        return true;
      case "event.floor.changed":
        this.floor = msg.participant_id;
        return true;
      case "event.hand.raised":
        if (!this.hands.includes(msg.participant_id)) this.hands.push(msg.participant_id);
        return true;
      case "event.hand.lowered":
        this.hands = this.hands.filter((id) => id !== msg.participant_id);
        return true;
      case "event.stage.changed":
        this.stage = [...msg.participant_ids];
        return true;
      case "event.chat.message":
        this.chat.push(msg.message);
        if (this.chat.length > CHAT_KEPT) this.chat.splice(0, this.chat.length - CHAT_KEPT);
        return true;
      case "event.question.asked":
      case "event.question.answered":
        this.questions.set(msg.question.question_id, msg.question);
        return true;
      case "event.recording.changed":
        this.recording = msg.recording;
        return true;
      case "event.camera.main":
        this.mainCamera = msg.publication_id;
        return true;
      case "event.question.highlighted": {
        const q = this.questions.get(msg.question_id);
        if (q) q.highlighted = msg.highlighted;
        return Boolean(q);
      }
      default:
        return false;
    }
  }

  participant(id) {
    return id === this.me ? this.you : this.participants.get(id);
  }

  /** The cameras of the teacher and the hub classroom: those the host picks the main one of. */
  hubCameras() {
    return [...this.publications.values()].filter((pub) => {
      const p = this.participant(pub.participant_id);
      return pub.source === "camera" && p && HUB_ROLES.has(p.role);
    });
  }

  /** How a participant is called on screen: a terminal by its classroom, a person by name. */
  label(id) {
    const p = this.participant(id);
    if (!p) return "";
    return p.classroom || p.name;
  }

  isHub(id) {
    const p = this.participant(id);
    return Boolean(p) && HUB_ROLES.has(p.role);
  }

  get amHub() {
    return HUB_ROLES.has(this.role);
  }

  get amHost() {
    return this.role === "host";
  }

  publication(id) {
    return this.publications.get(id);
  }

  /** The participant's publication with `source` (camera, microphone, screen), if any. */
  publicationOf(participantId, source) {
    for (const pub of this.publications.values()) {
      if (pub.participant_id === participantId && pub.source === source) return pub;
    }
    return null;
  }

  handRaised(id = this.me) {
    return this.hands.includes(id);
  }

  onStage(id = this.me) {
    return this.stage.includes(id);
  }

  /** What this participant may publish now (the server enforces it; server/live/rules.py). */
  allowedSources() {
    if (this.amHub) return ["camera", "microphone", "screen"];
    if (this.kind === "dedicated" && this.role === "receiving_classroom") return ["camera", "microphone"];
    if (this.kind === "master_teacher" && this.onStage()
        && (this.role === "receiving_classroom" || this.role === "observer")) {
      return ["camera", "microphone"];
    }
    return [];
  }

  /** Mirrors the rules' actions table for the buttons a page shows. */
  may(action) {
    const role = this.role;
    const kind = this.kind;
    if (role === "inspector") return false;
    switch (action) {
      case "chat":
        return kind !== "famous_school" || HUB_ROLES.has(role);
      case "raise_hand":
        return role === "receiving_classroom" && kind !== "famous_school"
          || role === "observer" && kind === "master_teacher";
      case "ask_question":
        return kind === "famous_school" && (role === "receiving_classroom" || role === "observer");
      case "answer_question":
        return kind === "famous_school" && role === "host";
      case "give_floor":
        return kind === "dedicated" && role === "host";
      case "manage_stage":
        return kind === "master_teacher" && role === "host";
      case "mute_others":
        return role === "host" && kind !== "famous_school";
      case "end_lesson":
      case "record":
      case "main_camera":
        return role === "host";
      default:
        return false;
    }
  }
}
