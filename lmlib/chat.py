"""A dialogue system from a language model: a turn format with role markers, a context window cut at
turn boundaries, stopping at the end of a turn, streaming, and a chat box (chapter 6.4).

A language model only continues text. What makes it a dialogue system is the frame around it:

* ``ChatTemplate`` writes a conversation as text, each turn after a role marker and ended by ``end``;
* ``prompt_for`` keeps the latest turns that fit the model's context window and ends with the
  assistant's marker, so the model's continuation *is* the reply;
* ``reply`` / ``stream_reply`` generate until the end-of-turn marker (or a length limit);
* ``chat_examples`` builds the fine-tuning data, with a mask that marks the assistant's tokens;
* ``ChatBox`` is the widget (a live kernel only); ``transcript_html`` shows a recorded exchange.
"""

from __future__ import annotations

import codecs
import html
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from . import _checks

__all__ = ["ChatTemplate", "Turn", "prompt_for", "stream_reply", "reply", "chat_examples", "qa_pairs",
           "SMALL_TALK", "transcript_html", "ChatBox"]


@dataclass(frozen=True)
class ChatTemplate:
    """How a conversation is written as text: role markers before each turn, an end marker after it."""

    user: str = "User: "
    assistant: str = "Bot: "
    end: str = "\n"  # a turn ends with a newline: a reply is one line

    def __post_init__(self) -> None:
        for name in ("user", "assistant", "end"):
            _checks.text(name, getattr(self, name))
        if not self.end:
            raise ValueError("end must be a non-empty marker (e.g. '\\n'): it is where a reply stops")

    def turn(self, role: str, text: str) -> str:
        """One turn as text: marker, text, end marker."""
        if role not in ("user", "assistant"):
            raise ValueError(f"role must be 'user' or 'assistant', got {role!r}")
        if self.end in text:
            raise ValueError(f"a turn cannot contain the end marker {self.end!r}: {text!r}")
        return (self.user if role == "user" else self.assistant) + text + self.end


@dataclass(frozen=True)
class Turn:
    """One message of a conversation."""

    role: str  # "user" or "assistant"
    text: str

    def __post_init__(self) -> None:
        if self.role not in ("user", "assistant"):
            raise ValueError(f"role must be 'user' or 'assistant', got {self.role!r}")
        _checks.text("text", self.text)


def _check_history(history: Any) -> list[Turn]:
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence) \
            or not all(isinstance(t, Turn) for t in history):
        raise TypeError(f"history must be a list of Turn(role, text), got {history!r:.80}")
    return list(history)


def prompt_for(history: Sequence[Turn], tokenizer, template: ChatTemplate, max_tokens: int) -> list[int]:
    """Token ids of the latest whole turns of ``history`` that fit in ``max_tokens``, then the assistant
    marker. Older turns are dropped first: the model's memory is its context window."""
    tail = tokenizer.encode(template.assistant)
    turns: list[list[int]] = []
    used = len(tail)
    for turn in reversed(history):
        ids = tokenizer.encode(template.turn(turn.role, turn.text))
        if used + len(ids) > max_tokens:
            break
        turns.insert(0, ids)
        used += len(ids)
    if not turns and history:
        raise ValueError(f"the last message alone needs more than {max_tokens} tokens; write a shorter one")
    return [i for ids in turns for i in ids] + tail


def stream_reply(model, tokenizer, history: Sequence[Turn], template: ChatTemplate = ChatTemplate(),
                 max_new_tokens: int = 100, temperature: float = 0.0, top_k: int | None = None,
                 seed: int | None = 0) -> Iterator[str]:
    """Yield the assistant's reply piece by piece, stopping at the end-of-turn marker (not yielded)."""
    from .generate import generate_ids

    _check_history(history)
    if not isinstance(template, ChatTemplate):
        raise TypeError(f"template must be a ChatTemplate, got {type(template).__name__}")
    block = model.config.block_size
    if getattr(tokenizer, "vocab_size", None) != model.config.vocab_size:
        raise ValueError(f"tokenizer has {getattr(tokenizer, 'vocab_size', None)} tokens but the model expects "
                         f"{model.config.vocab_size}; use the tokenizer the model was trained with")
    _checks.count("max_new_tokens", max_new_tokens, 0)
    if max_new_tokens >= block:
        raise ValueError(f"max_new_tokens must be below the block size {block}, got {max_new_tokens}")
    ids = prompt_for(history, tokenizer, template, block - max_new_tokens)
    end = template.end.encode("utf-8")
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    written, emitted = b"", 0  # bytes generated, and how many of them went to the decoder
    for token in generate_ids(model, ids, max_new_tokens, temperature=temperature, top_k=top_k, seed=seed):
        written += tokenizer.token_bytes(token)
        cut = written.find(end)
        upto = cut if cut >= 0 else max(emitted, len(written) - (len(end) - 1))  # hold back half a marker
        piece = decoder.decode(written[emitted:upto], final=cut >= 0)
        emitted = upto
        if piece:
            yield piece
        if cut >= 0:
            return
    tail = decoder.decode(written[emitted:], final=True)
    if tail:
        yield tail


def reply(model, tokenizer, history: Sequence[Turn], template: ChatTemplate = ChatTemplate(), **kwargs) -> str:
    """The whole reply (see ``stream_reply``)."""
    return "".join(stream_reply(model, tokenizer, history, template, **kwargs))


# ---- fine-tuning data ---------------------------------------------------------------------------------

SMALL_TALK = (  # written for this book: greetings and an honest answer to what the model cannot do
    ("Hello", "Hello! Ask me what a Python function does."),
    ("Hi", "Hi! Ask me about a function of the standard library."),
    ("Thank you", "You are welcome."),
    ("Thanks!", "You are welcome."),
    ("Who are you?", "A tiny language model fine-tuned on Python's documentation."),
    ("What can you do?", "I can say in one line what a documented Python function does."),
    ("What is the weather today?", "I cannot know that: I only learned Python's documentation."),
    ("What time is it?", "I cannot know that: I have no clock and no internet."),
)


def qa_pairs(items) -> list[tuple[str, str]]:
    """(question, answer) pairs from docstring items: "What does <name> do?" -> its summary line."""
    out = []
    for item in items:
        name = item.key.split(".", 1)[-1] if item.key.count(".") > 1 else item.key
        if item.summary and len(item.summary) <= 120 and "\n" not in item.summary:
            out.append((f"What does {name} do?", item.summary))
    return out


def chat_examples(pairs: Sequence[tuple[str, str]], tokenizer, template: ChatTemplate = ChatTemplate(),
                  max_tokens: int = 257, turns: int = 2, seed: int = 0,
                  small_talk: Sequence[tuple[str, str]] = SMALL_TALK) -> list[tuple[list[int], list[int]]]:
    """Dialogues of up to ``turns`` question/answer exchanges as (ids, mask) examples; the mask is 1 on the
    assistant's words and end marker (what the model learns to write), 0 elsewhere."""
    for name, value in (("pairs", pairs), ("small_talk", small_talk)):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not all(
                isinstance(p, tuple) and len(p) == 2 and all(isinstance(t, str) for t in p) for p in value):
            raise TypeError(f"{name} must be a list of (question, answer) pairs of strings")
    max_tokens, turns = _checks.count("max_tokens", max_tokens), _checks.count("turns", turns)
    rng = random.Random(seed)
    pool = list(pairs) + list(small_talk) * max(1, len(pairs) // (10 * max(1, len(small_talk))))
    rng.shuffle(pool)
    examples = []
    i = 0
    while i < len(pool):
        ids: list[int] = []
        mask: list[int] = []
        for _ in range(rng.randint(1, turns)):
            if i >= len(pool):
                break
            question, answer = pool[i]
            u = tokenizer.encode(template.turn("user", question))
            a_marker = tokenizer.encode(template.assistant)
            a_text = tokenizer.encode(answer + template.end)
            if len(ids) + len(u) + len(a_marker) + len(a_text) > max_tokens:
                break
            ids += u + a_marker + a_text
            mask += [0] * (len(u) + len(a_marker)) + [1] * len(a_text)
            i += 1
        if not ids:  # a single exchange longer than max_tokens: skip it
            i += 1
            continue
        examples.append((ids, mask))
    return examples


# ---- showing a conversation ---------------------------------------------------------------------------

def transcript_html(turns: Sequence[Turn], note: str = "") -> str:
    """A conversation as HTML, with an optional note above it (e.g. that it is a recording)."""
    turns, note = _check_history(turns), _checks.text("note", note)
    rows = []
    for t in turns:
        who, colour = ("you", "#0969da") if t.role == "user" else ("model", "#1a7f37")
        rows.append(f'<div style="margin:2px 0"><b style="color:{colour}">{who}:</b> '
                    f'<span style="white-space:pre-wrap">{html.escape(t.text)}</span></div>')
    head = f'<div style="font-size:90%;color:#57606a;margin-bottom:4px">{html.escape(note)}</div>' if note else ""
    return f'<div class="lmlib-chat" style="border:1px solid #d0d7de;border-radius:6px;padding:6px 10px">{head}{"".join(rows)}</div>'


@dataclass
class ChatBox:
    """A chat box for a live kernel: type a message, press Send (or Enter), watch the reply stream in."""

    model: object
    tokenizer: object
    template: ChatTemplate = field(default_factory=ChatTemplate)
    max_new_tokens: int = 100
    temperature: float = 0.0
    history: list[Turn] = field(default_factory=list)

    def __post_init__(self) -> None:
        import ipywidgets as w

        self.text = w.Text(placeholder="Ask: What does json.dumps do?", description="message",
                           layout=w.Layout(width="70%"))
        self.send = w.Button(description="Send", button_style="primary")
        self.clear = w.Button(description="Clear")
        self.log = w.HTML(value=transcript_html([], "Start a conversation."))
        self.send.on_click(lambda _: self.submit())
        self.clear.on_click(lambda _: self.reset())
        self.text.continuous_update = False  # Enter (or leaving the box) sends: ipywidgets 7 and 8
        self.text.observe(lambda change: change["new"].strip() and self.submit(), names="value")
        self.widget = w.VBox([self.log, w.HBox([self.text, self.send, self.clear])])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def reset(self) -> None:
        """Forget the conversation."""
        self.history = []
        self.log.value = transcript_html([], "Start a conversation.")

    def submit(self, message: str | None = None) -> str:
        """Send ``message`` (default: the text box), stream the reply into the log, return it."""
        message = (self.text.value if message is None else message).strip().replace("\n", " ")
        if not message:
            return ""
        self.text.value = ""
        self.history.append(Turn("user", message))
        started, written = time.perf_counter(), ""
        try:
            for piece in stream_reply(self.model, self.tokenizer, self.history, self.template,
                                      max_new_tokens=self.max_new_tokens, temperature=self.temperature):
                written += piece
                self.log.value = transcript_html([*self.history, Turn("assistant", written + "▌")])
        except ValueError as err:
            self.history.pop()
            self.log.value = transcript_html(self.history, f"Not sent: {err}")
            return ""
        self.history.append(Turn("assistant", re.sub(r"\s+$", "", written)))
        seconds = time.perf_counter() - started
        self.log.value = transcript_html(self.history, f"last reply: {len(written)} characters in {seconds:.1f} s")
        return written
