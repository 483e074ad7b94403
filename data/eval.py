#!/usr/bin/python3
"""eval.py PENNY MODEL EVAL.jsonl [TRANSCRIPTS] - exact-match accuracy of a
chat model on the held-out split that data/make_chat.py writes.

Every question is one fresh conversation (`/reset` between them) answered
greedily by `penny chat` reading a pipe, so the numbers are what a user
would see. A reply counts as correct when the expected short answer (a
capital, a symbol, a number, a president) appears in it as a whole word,
case-sensitively: "The capital of Peru is Lima." is right for "Lima",
"... is Limassol." is not. WordNet questions have no single short answer
and are reported as transcripts only. Prints a table per kind, and with
TRANSCRIPTS writes every question and reply (unedited) there.
"""
import json
import re
import subprocess
import sys

SCORED = ("capital", "element", "president", "arith", "units")


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: eval.py PENNY MODEL EVAL.jsonl [TRANSCRIPTS]")
    penny, model, path = sys.argv[1:4]
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    script = "".join(r["question"] + "\n/reset\n" for r in rows)
    out = subprocess.run([penny, "chat", "-m", model, "--temp", "0", "-n", "48", "-t", "1"],
                         input=script, capture_output=True, text=True, check=True).stdout
    replies = out.split("\n")
    if len(replies) < len(rows):
        sys.exit("eval.py: {} replies for {} questions".format(len(replies), len(rows)))
    stats = {}
    for r, reply in zip(rows, replies):
        ok = re.search(r"(?<![\w-])" + re.escape(r["answer"]) + r"(?![\w-])", reply) is not None
        r["reply"], r["correct"] = reply, ok
        s = stats.setdefault(r["kind"], [0, 0])
        s[0] += ok
        s[1] += 1
    print("| kind | questions | exact match |")
    print("|---|---|---|")
    tot = [0, 0]
    for kind in SCORED:
        if kind in stats:
            c, n = stats[kind]
            tot[0] += c
            tot[1] += n
            print("| {} | {} | {}/{} = {:.1f}% |".format(kind, n, c, n, 100.0 * c / n))
    print("| all scored | {} | {}/{} = {:.1f}% |".format(tot[1], tot[0], tot[1], 100.0 * tot[0] / max(tot[1], 1)))
    if len(sys.argv) == 5:
        with open(sys.argv[4], "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({k: r[k] for k in ("kind", "question", "answer", "reply", "correct")},
                                   ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
