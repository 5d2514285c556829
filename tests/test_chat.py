"""lmlib.chat: the turn format, the context window, stopping, fine-tuning data, the chat box."""

import pytest

from conftest import tiny_gpt
from lmlib import adapt, chat, tokenizers

TOK = tokenizers.ByteTokenizer()
T = chat.ChatTemplate()


def test_turns_and_prompt():
    assert T.turn("user", "Hi") == "User: Hi\n"
    history = [chat.Turn("user", "Hi"), chat.Turn("assistant", "Hello!"), chat.Turn("user", "len?")]
    assert TOK.decode(chat.prompt_for(history, TOK, T, 100)) == "User: Hi\nBot: Hello!\nUser: len?\nBot: "
    # a small window keeps the latest whole turns only
    assert TOK.decode(chat.prompt_for(history, TOK, T, 16)) == "User: len?\nBot: "
    with pytest.raises(ValueError, match="cannot contain the end marker"):
        T.turn("user", "two\nlines")
    with pytest.raises(ValueError, match="role must be"):
        T.turn("system", "x")
    with pytest.raises(ValueError, match="the last message alone needs more than 10 tokens"):
        chat.prompt_for([chat.Turn("user", "a long message")], TOK, T, 10)


def test_examples_mask_the_assistant_words():
    pairs = [("What does len do?", "Return the number of items."), ("Hi", "Hello!")]
    examples = chat.chat_examples(pairs, TOK, T, turns=1, small_talk=())
    assert len(examples) == 2
    for ids, mask in examples:
        text = TOK.decode(ids)
        learned = TOK.decode([i for i, m in zip(ids, mask) if m])
        assert text.startswith("User: ") and text.endswith("\n") and learned.endswith("\n")
        assert learned.strip() in {"Return the number of items.", "Hello!"}


def test_a_model_fine_tuned_on_one_dialogue_replies_and_stops():
    model = tiny_gpt(256, block_size=48)
    examples = chat.chat_examples([("Hi", "Hello!")], TOK, T, max_tokens=49, turns=1, small_talk=())
    adapt.finetune_lm(model, examples, steps=80, batch_size=4, lr=1e-2, progress=False)
    pieces = list(chat.stream_reply(model, TOK, [chat.Turn("user", "Hi")], T, max_new_tokens=20))
    assert "".join(pieces) == "Hello!" and len(pieces) == 6  # streamed byte by byte, newline not included
    with pytest.raises(ValueError, match="below the block size"):
        chat.reply(model, TOK, [chat.Turn("user", "Hi")], T, max_new_tokens=48)


def test_chat_box_keeps_history_and_reports_bad_input():
    model = tiny_gpt(256, block_size=32)
    box = chat.ChatBox(model, TOK, T, max_new_tokens=8)
    box.submit("Hi")
    assert [t.role for t in box.history] == ["user", "assistant"]
    assert box.submit("   ") == "" and len(box.history) == 2
    assert box.submit("x" * 40) == "" and "Not sent" in box.log.value and len(box.history) == 2
    box.reset()
    assert box.history == []
    assert "recorded" in chat.transcript_html([chat.Turn("user", "<b>")], "recorded").lower()
    assert "&lt;b&gt;" in chat.transcript_html([chat.Turn("user", "<b>")])


def test_qa_pairs_from_docstrings():
    from lmlib.taskdata import DocItem

    items = [DocItem("json.decoder.JSONDecoder.decode", "json", "Return the Python object.", ""),
             DocItem("json.dumps", "json", "Serialize obj.", "body"), DocItem("x.y", "x", "", "no summary")]
    assert chat.qa_pairs(items) == [("What does decoder.JSONDecoder.decode do?", "Return the Python object."),
                                    ("What does json.dumps do?", "Serialize obj.")]
