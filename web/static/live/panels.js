// Side panels shared by the console and the observer page: chat (comments), questions and the
// connection line. Each renders from the RoomState; actions go through the session.

import { el, fill, formatClock, setText, t } from "./ui.js";

/** The chat (or comments) list and its form. Hides the form when the seat may not chat. */
export class ChatPanel {
  constructor(session, { list, form, input }) {
    this.session = session;
    this.list = list;
    this.form = form;
    this.input = input;
    this.shown = 0;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text || !this.session.room) return;
      input.disabled = true;
      const reply = await this.session.request("chat.send", { text });
      input.disabled = false;
      if (reply) input.value = "";
      input.focus();
    });
  }

  render() {
    const room = this.session.room;
    if (!room) return;
    this.form.hidden = !room.may("chat");
    if (!room.chat.length) {
      fill(this.list, el("li", { class: "empty-line" }, t("no_chat")));
      this.shown = 0;
      return;
    }
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    fill(this.list, room.chat.map((m) => el("li", { class: m.participant_id === room.me ? "mine" : "" },
      el("span", { class: "chat-who" }, m.participant_id === room.me ? t("you") : m.name),
      el("time", { class: "chat-at", datetime: m.at }, formatClock(new Date(m.at))),
      el("p", { class: "chat-text" }, m.text))));
    if (nearBottom || room.chat.length > this.shown) this.list.scrollTop = this.list.scrollHeight;
    this.shown = room.chat.length;
  }
}

/** famous_school questions: the host answers and highlights; others see them. */
export class QuestionsPanel {
  constructor(session, list) {
    this.session = session;
    this.list = list;
    list.addEventListener("click", (e) => {
      const button = e.target.closest("button[data-highlight]");
      if (!button) return;
      this.session.request("question.highlight", {
        question_id: button.dataset.question, highlighted: button.dataset.highlight === "true",
      });
    });
    list.addEventListener("submit", async (e) => {
      e.preventDefault();
      const form = e.target;
      const input = form.querySelector("input");
      const text = input.value.trim();
      if (!text) return;
      const reply = await this.session.request("question.answer", { question_id: form.dataset.question, text });
      if (reply) input.value = "";
    });
  }

  render() {
    const room = this.session.room;
    if (!room) return;
    const questions = [...room.questions.values()];
    if (!questions.length) {
      fill(this.list, el("li", { class: "empty-line" }, t("no_questions")));
      return;
    }
    const host = room.may("answer_question");
    // The list is rebuilt on every room change (someone joins, speaks, asks): keep the answers
    // being typed, and the focus, across it.
    const drafts = new Map();
    for (const input of this.list.querySelectorAll("form.answer-form input")) {
      if (input.value) drafts.set(input.form.dataset.question, input.value);
    }
    const active = document.activeElement;
    const focused = active && this.list.contains(active) && active.form ? active.form.dataset.question : null;
    // Highlighted first, then oldest first.
    questions.sort((a, b) => Number(Boolean(b.highlighted)) - Number(Boolean(a.highlighted)));
    fill(this.list, questions.map((q) => el("li", { class: `question${q.highlighted ? " highlighted" : ""}` },
      el("p", { class: "question-who" }, q.classroom || q.name),
      el("p", { class: "question-text" }, q.text),
      q.answer ? el("p", { class: "question-answer" }, t("answered", { answer: q.answer })) : null,
      host ? el("div", { class: "question-actions" },
        el("button", {
          type: "button", class: "button small subtle",
          dataset: { question: q.question_id, highlight: q.highlighted ? "false" : "true" },
        }, q.highlighted ? t("unhighlight") : t("highlight")),
        q.answer ? null : el("form", { class: "answer-form", dataset: { question: q.question_id } },
          el("input", { type: "text", name: "answer", maxlength: "500", placeholder: t("answer_placeholder"), "aria-label": t("answer") }),
          el("button", { type: "submit", class: "button small primary" }, t("answer")))) : null)));
    for (const form of this.list.querySelectorAll("form.answer-form")) {
      const input = form.querySelector("input");
      const id = form.dataset.question;
      if (drafts.has(id)) input.value = drafts.get(id);
      if (id === focused) input.focus();
    }
  }
}

/** The one-line connection state ("Connected", "Reconnecting…"). */
export function showConnection(node, state) {
  setText(node, t(`status_${state}`));
  node.dataset.state = state;
}
