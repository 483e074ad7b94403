#!/usr/bin/python3
"""make_chat.py OUTDIR - chat fine-tuning data for penny's built-in model.

Writes OUTDIR/chat_train.jsonl ({"messages": [...]} per line, the format
`penny train-prepare --chat` reads) and OUTDIR/chat_eval.jsonl, a fixed
held-out split that training never sees ({"kind", "question", "answer",
"messages"} per line; "answer" is the short expected answer that the
exact-match evaluation looks for). Everything comes from real, freely
licensed sources installed on this machine, or is computed:

  * WordNet 3.0 (wordnet-base): "What does X mean?" from a word's first
    sense gloss, "Use X in a sentence." from the gloss's quoted examples;
  * the bsdgames quiz files: capitals of countries and US states, chemical
    elements (symbol, atomic number), US presidents and their successors;
  * arithmetic and unit conversions with computed answers;
  * conversations about penny itself (what it is, how to run bigger models).

The evaluation split holds (a) paraphrased questions about quiz facts that
training does see in other words, (b) arithmetic and conversions whose
operands training never sees, (c) WordNet words that training never sees.
Python 3 standard library only; the output depends only on the installed
files and the seed, so `make model` is reproducible.
"""
import json
import os
import random
import re
import sys

WORDNET = "/usr/share/wordnet"
QUIZ = "/usr/share/games/bsdgames/quiz"
WORDS = "/usr/share/dict/words"
SEED = 8
# Each quiz fact appears FACT_REPEAT times per phrasing: facts must be
# memorised, which takes many passes, while definitions and sums teach a
# shape that a few examples of each already show.
FACT_REPEAT = 6

# ---- quiz files -------------------------------------------------------------


def _alternatives(s):
    """Splits s at '|' outside brackets and braces."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "|" and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return out + [cur]


def canonical(s, top=True):
    """The fullest plain spelling of a quiz answer pattern: optional {parts}
    are kept, the first of a|b is taken, and of [x|y] (accent spellings) the
    first purely alphabetic choice."""
    s = _alternatives(s)[0]
    out, i = "", 0
    while i < len(s):
        ch = s[i]
        if ch in "[{":
            depth, j = 1, i + 1
            while depth:
                depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(s[j], 0)
                j += 1
            inner = s[i + 1:j - 1]
            if ch == "{":
                out += canonical(inner, False)
            else:
                alts = _alternatives(inner)
                plain = [a for a in alts if re.fullmatch(r"[A-Za-z]+", a)]
                out += canonical(plain[0] if plain else alts[0], False)
            i = j
        else:
            out += ch
            i += 1
    return out.strip() if top else out


def quiz_rows(name):
    rows, cur = [], ""
    with open(os.path.join(QUIZ, name), encoding="latin-1") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.endswith("\\"):
                cur += line[:-1]
                continue
            cur += line
            if cur.strip():
                rows.append([canonical(x) for x in _split_fields(cur)])
            cur = ""
    return rows


def _split_fields(line):
    out, depth, cur = [], 0, ""
    for ch in line:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == ":" and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return out + [cur]


# Each fact has training phrasings and a different, held-out phrasing.
CAPITAL_TRAIN = ["What is the capital of {0}?", "Name the capital city of {0}."]
CAPITAL_EVAL = ["Which city is the capital of {0}?", "{0}'s capital is which city?"]
SYMBOL_TRAIN = ["What is the chemical symbol for {0}?", "Give the symbol of the element {0}."]
SYMBOL_EVAL = ["Which symbol stands for {0}?"]
NUMBER_TRAIN = ["What is the atomic number of {0}?"]
NUMBER_EVAL = ["How many protons does an atom of {0} have?"]
SUCC_TRAIN = ["Who was president after {0}?", "Who succeeded {0} as president?"]
SUCC_EVAL = ["Which president came after {0}?"]


def quiz_facts():
    """(kind, subject, answer, reply, train questions, eval questions)."""
    facts = []
    for region in ("africa", "america", "asia", "europe"):
        for country, capital in (r[:2] for r in quiz_rows(region)):
            reply = "The capital of {} is {}.".format(country, capital)
            facts.append(("capital", country, capital, reply, CAPITAL_TRAIN, CAPITAL_EVAL))
    for r in quiz_rows("state"):
        state, capital = r[0], r[1]
        reply = "The capital of {} is {}.".format(state, capital)
        facts.append(("capital", state, capital, reply, CAPITAL_TRAIN, CAPITAL_EVAL))
    for sym, num, _w, name in (r[:4] for r in quiz_rows("elements")):
        facts.append(("element", name, sym, "The symbol for {} is {}.".format(name, sym),
                      SYMBOL_TRAIN, SYMBOL_EVAL))
        facts.append(("element", name, num, "The atomic number of {} is {}.".format(name, num),
                      NUMBER_TRAIN, NUMBER_EVAL))
    for r in quiz_rows("pres"):
        if len(r) >= 4 and r[3]:
            reply = "{} was followed by {}.".format(r[0], r[3])
            facts.append(("president", r[0], r[3], reply, SUCC_TRAIN, SUCC_EVAL))
    return facts


# ---- WordNet ------------------------------------------------------------------

POS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}


def wordnet_senses(common):
    """word -> (gloss, [examples]) of its first sense, for common words."""
    senses = {}
    for pos in POS:
        offsets = {}
        with open(os.path.join(WORDNET, "index." + pos), encoding="latin-1") as f:
            for line in f:
                if line.startswith(" "):
                    continue
                parts = line.split()
                word = parts[0]
                if word in common and word not in senses:
                    offsets[int(parts[-int(parts[2])])] = word
        with open(os.path.join(WORDNET, "data." + pos), encoding="latin-1") as f:
            for line in f:
                if line.startswith(" ") or "|" not in line:
                    continue
                off = int(line[:8])
                if off in offsets and offsets[off] not in senses:
                    senses[offsets[off]] = _gloss(line.split("|", 1)[1])
    return senses


def _gloss(text):
    examples = re.findall(r'"([^"]+)"', text)
    gloss = text.split('"')[0].strip().rstrip(";").strip()
    return gloss, examples


def common_words():
    with open(WORDS, encoding="utf-8") as f:
        return {w.strip() for w in f if re.fullmatch(r"[a-z]{3,12}", w.strip())}


def wordnet_convs(senses, words):
    out = []
    for w in words:
        gloss, examples = senses[w]
        out.append(("define", w, gloss, "What does \"{}\" mean?".format(w),
                    "\"{}\" means {}.".format(w, gloss)))
        good = [e for e in examples if re.search(r"\b" + w + r"\b", e)]
        if good:
            out.append(("sentence", w, good[0], "Use \"{}\" in a sentence.".format(w),
                        good[0][0].upper() + good[0][1:] + "."))
    return out


# ---- arithmetic and units -------------------------------------------------------


def arithmetic(rng, n, seen):
    out = []
    while len(out) < n:
        op = rng.choice("+-*")
        a = rng.randint(0, 99) if op != "*" else rng.randint(2, 12)
        b = rng.randint(0, 99) if op != "*" else rng.randint(2, 12)
        if op == "-" and b > a:
            a, b = b, a
        key = (a, op, b)
        if key in seen:
            continue
        seen.add(key)
        c = a + b if op == "+" else a - b if op == "-" else a * b
        sym = {"+": "+", "-": "-", "*": "x"}[op]
        q = rng.choice(["What is {} {} {}?", "Compute {} {} {}.", "{} {} {} = ?"]).format(a, sym, b)
        out.append(("arith", q, str(c), "{} {} {} = {}.".format(a, sym, b, c)))
    return out


UNITS = [  # (from, to, factor, phrase)
    ("metres", "centimetres", 100), ("kilometres", "metres", 1000), ("hours", "minutes", 60),
    ("minutes", "seconds", 60), ("days", "hours", 24), ("weeks", "days", 7),
    ("feet", "inches", 12), ("yards", "feet", 3), ("kilograms", "grams", 1000),
    ("litres", "millilitres", 1000), ("dozen", "items", 12), ("years", "months", 12),
]


def conversions(rng, n, seen):
    out = []
    while len(out) < n:
        src, dst, k = rng.choice(UNITS)
        x = rng.randint(2, 60)
        if (src, x) in seen:
            continue
        seen.add((src, x))
        q = rng.choice(["How many {1} are in {0} {2}?", "Convert {0} {2} to {1}."]).format(x, dst, src)
        out.append(("units", q, str(x * k), "{} {} is {} {}.".format(x, src, x * k, dst)))
    return out


# ---- penny itself ---------------------------------------------------------------

PENNY_QA = [
    (["What are you?", "Who are you?", "What is penny?", "Tell me about yourself.",
      "What is this program?"],
     "I am penny's built-in assistant, a very small language model that penny trained "
     "itself on a two-core CPU. penny is an inference engine written in C that runs "
     "GGUF models on your computer, without a network."),
    (["How do I run a bigger model?", "How can I use a larger model?", "Can I run a better model?",
      "You are too small. What now?", "How do I get a smarter assistant?"],
     "Download one with penny pull, for example: penny pull Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q8_0 "
     "and then chat with it: penny chat -m Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q8_0"),
    (["How do I chat with a model?", "How do I start a chat?", "How do I talk to a model file?"],
     "Run penny chat -m FILE.gguf (or a pulled model's name). Type a message and press Enter; "
     "/reset forgets the conversation and /exit quits."),
    (["How do I generate text from a prompt?", "How do I complete a prompt?"],
     "Run penny run -m FILE.gguf -p \"your prompt\". Add -n to set how many tokens to generate "
     "and --temp 0 for greedy output."),
    (["How do I start a server?", "Is there an API?", "How do I serve a model over HTTP?"],
     "Run penny serve -m FILE.gguf. It answers OpenAI-style requests at "
     "http://127.0.0.1:8080/v1/chat/completions; --port changes the port."),
    (["How do I see what is inside a model file?", "How do I inspect a GGUF file?"],
     "Run penny info FILE.gguf. It prints the metadata and the tensor table."),
    (["How do I make a model smaller?", "How do I quantize a model?"],
     "Run penny quantize IN.gguf OUT.gguf Q4_K_M. Other types are Q8_0, Q5_K_M, Q6_K and Q4_0."),
    (["Which models do I have?", "How do I list downloaded models?"],
     "Run penny list to see the models in the store, and penny rm NAME to delete one."),
    (["How were you trained?", "How did penny make you?", "What data were you trained on?"],
     "penny trained me with its own pipeline: a byte-level BPE tokenizer, pretraining on "
     "freely licensed text (the King James Bible, dictionaries, fortunes, Moby Dick, State of "
     "the Union addresses and the Brown corpus), then fine-tuning on generated chat data."),
    (["How do I train my own model?", "Can I train a model with penny?"],
     "Yes: penny train-tokenizer, penny train-prepare, penny train and penny train-export. "
     "make model rebuilds me from scratch; docs/training.md explains each step."),
    (["Are you smart?", "Can I trust your answers?", "How good are you?"],
     "Not very. I have about a million parameters, so I know little and often make mistakes. "
     "For real work, pull a bigger model with penny pull."),
    (["Do you need the internet?", "Does penny work offline?"],
     "No. I am shipped inside penny's repository, so I run offline. Only penny pull needs a network."),
]
GREETINGS = [("Hello!", "Hello! I am penny's small assistant. Ask me a question."),
             ("Hi", "Hi! How can I help?"), ("Thank you.", "You are welcome."),
             ("Thanks!", "You are welcome."), ("Good morning.", "Good morning! How can I help?")]


def penny_convs(rng, n):
    out = []
    for i in range(n):
        qs, a = PENNY_QA[i % len(PENNY_QA)]
        q = rng.choice(qs)
        q = rng.choice([q, q.lower(), q.rstrip("?.!")])
        out.append(("penny", q, a))
    for q, a in GREETINGS:
        out += [("penny", q, a)] * 3
    return out


# ---- output -----------------------------------------------------------------------


def conv(q, a):
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_chat.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    rng = random.Random(SEED)
    train, evals = [], []

    for kind, subj, ans, reply, tq, eq in quiz_facts():
        for q in tq:
            train += [conv(q.format(subj), reply)] * FACT_REPEAT
        q = rng.choice(eq).format(subj)
        evals.append({"kind": kind, "question": q, "answer": ans, "messages": conv(q, reply)["messages"]})

    seen = set()
    ar_eval = arithmetic(rng, 100, seen)
    seen_units = set()
    un_eval = conversions(rng, 50, seen_units)
    ar_train = arithmetic(rng, 4000, seen)
    un_train = conversions(rng, 400, seen_units)
    for kind, q, ans, reply in ar_eval + un_eval:
        evals.append({"kind": kind, "question": q, "answer": ans, "messages": conv(q, reply)["messages"]})
    for _, q, _, reply in ar_train + un_train:
        train.append(conv(q, reply))

    senses = wordnet_senses(common_words())
    words = sorted(senses)
    rng.shuffle(words)
    for kind, w, ans, q, a in wordnet_convs(senses, words[:200]):
        evals.append({"kind": kind, "question": q, "answer": ans, "messages": conv(q, a)["messages"]})
    for _, _, _, q, a in wordnet_convs(senses, words[200:5200]):
        train.append(conv(q, a))

    for _, q, a in penny_convs(rng, 300):
        train.append(conv(q, a))

    rng.shuffle(train)
    write(os.path.join(outdir, "chat_train.jsonl"), train)
    write(os.path.join(outdir, "chat_eval.jsonl"), evals)
    print("make_chat: {} training conversations, {} held-out questions".format(len(train), len(evals)),
          file=sys.stderr)


def write(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
