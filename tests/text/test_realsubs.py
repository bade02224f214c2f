"""The real-subtitle corpus (../shared/realsubs/files, see its SOURCES.md): every file parses or
fails with the expected reason; the words kept are those of an independent reference reader
written here; no markup is left; word starts never go backwards."""

import html
import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from curate.text import TranscriptError, parse_subtitle_file, transcript_to_clips, vidla_recipe

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "realsubs" / "files"
FILES = sorted(p.name for p in CORPUS.glob("*")) if CORPUS.is_dir() else []

# the files that are not usable subtitles, and why
NOT_SUBTITLES = {
    "auto13_akcho_transcript.en.vtt": ("subtitle_malformed", "no WEBVTT header"),  # live capture
    "bad01_gbif_dwc_comments.ja.vtt": ("subtitle_malformed", "no WEBVTT header"),  # a CSV
    "man08_bagasayn_en.vtt": ("subtitle_malformed", "10 of 46 blocks have no readable timing line"),
}
# what the parser must have repaired (at least these kinds) in the files the issue names
EXPECTED_REPAIRS = {
    "srt06_pysrt_windows-1252.srt": {"decoded_as:cp1252"},
    "srt07_pysrt_capability_tester.srt": {"simultaneous_cues_merged"},
    "srt09_atharvakalele_transcript.en.srt": {"overlap_trimmed"},
    "srt11_eternal_sunshine_uz.srt": {"stray_cue_number_skipped", "cue_time_repaired"},
}

pytestmark = pytest.mark.skipif(
    not FILES, reason=f"the real-subtitle corpus is not there ({CORPUS}: ../shared is not checked out)"
)


# ---------------------------------------------------------------------------------------------
# the independent reference: what a plain reader of each format shows as text


_TIMING = re.compile(r"^[^\n]*?((?:\d+:)?\d+:\d+[.,]\d+)[ \t]*-->[ \t]*((?:\d+:)?\d+:\d+[.,]\d+)[^\n]*$", re.M)
_NON_SPEECH = [
    re.compile(r"<[^<>]*>|[<>]"),  # tags, and a stray bracket of a broken one
    re.compile(r"\{[^}]*\}"),  # {\an8}, {Y:i}
    re.compile(r"\\[Nnh]"),  # SubStation line breaks and hard spaces
    re.compile(r"\[[^\]]*\]", re.S),  # [annotations], across lines too
    re.compile(r"^[^\[\n]*\]", re.M),  # the end of one opened in an earlier cue
    re.compile(r"\[[^\]]*$", re.S),  # ... or closed in a later one
    re.compile(r"\([A-Z][A-Z0-9 '\-]*\)"),  # (APPLAUSE)
    re.compile(r"^\s*-?\s*\([^()\n]*\)\s*$", re.M),  # a line that is all a parenthesis
    re.compile(r"^\s*(?:>>|-)?\s*[A-Z][A-Z0-9.'\-]*(?: [A-Z0-9][A-Z0-9.'\-]*){0,3}:\s", re.M),  # NAME:
]


# "Barry:", "- Eddie:", "Ashlee Kupor (SL):" at a line start: a speaker label after a dash or ">>",
# or when the same label starts lines twice or more in the file, unless the line continues the
# sentence of the line before it
_MIXED_LABEL = re.compile(
    r"^[ \t]*(?P<mark>(?:-|>>)[ \t]*)?(?P<name>[A-Z][\w'.\-]*(?: [A-Z][\w'.\-]*){0,3}(?: \([^()\n]+\))?):"
    r"(?=[ \t]+\S|[ \t]*$)",
    re.M,
)


def file_labels(text):
    counts = Counter(m.group("name") for m in _MIXED_LABEL.finditer(text))
    return {name for name, n in counts.items() if n >= 2}


def without_labels(body, labels):
    lines, previous = [], ""
    for line in body.split("\n"):
        m = _MIXED_LABEL.match(line)
        tail = re.sub(r"<[^<>]*>", "", previous).rstrip().rstrip("\"')]»”’")
        continues = bool(tail) and not tail.endswith((".", "?", "!", "…", "-"))
        if m and not continues and (m.group("mark") or m.group("name") in labels):
            line = line[: m.start("name")] + line[m.end() :]
        lines.append(line)
        previous = line if line.strip() else previous
    return "\n".join(lines)


def seconds(stamp):
    *rest, last = stamp.replace(",", ".").split(":")
    return sum(float(p) * 60**k for k, p in enumerate(reversed(rest), 1)) + float(last)


def spoken(text):
    """The text with what is not speech removed, by the reference's own rules."""
    text = html.unescape(text.replace("&nbsp;", " "))
    for pattern in _NON_SPEECH:
        text = pattern.sub(" ", text)
    return text


def letters(text):
    """Only the letters and digits, case-folded: the reference and the parser may differ in
    spacing and punctuation, never in a word's letters."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def cues_of(text):
    """(start, end, text) of every timing line and the lines after it up to an empty line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    out = []
    matches = list(_TIMING.finditer(text))
    for k, m in enumerate(matches):
        stop = matches[k + 1].start() if k + 1 < len(matches) else len(text)
        body = text[m.end() + 1 : stop]
        body = re.split(r"\n[ \t]*\n" if "\n \n" not in text else r"\n\n", body, maxsplit=1)[0]
        out.append((seconds(m.group(1)), seconds(m.group(2)), body))
    return out


def reference_uploaded(text):
    labels = file_labels(text)
    return "".join(letters(spoken(without_labels(body, labels))) for _, _, body in cues_of(text))


def concurrent(text):
    """Whether a cue starts while the one before is still shown (not together with it): concurrent
    cues, whose words are ordered by their own starts."""
    cues = cues_of(text)
    return any(b[0] < a[1] and b[0] - a[0] >= 0.05 for a, b in zip(cues, cues[1:]))


def reference_auto(text):
    """YouTube automatic captions: each cue longer than a transition cue shows the previous line
    and then the new one; the new line is the one after the first."""
    out, previous = [], None
    for start, end, body in cues_of(text):
        lines = [line for line in body.split("\n")]
        if end - start <= 0.02:
            continue
        new = lines[1:] if len(lines) >= 2 else lines
        for line in new:
            plain = letters(spoken(line))
            if len(lines) < 2 and plain == previous:
                continue
            if plain:
                out.append(plain)
                previous = plain
    return "".join(out)


def reference_json3(text):
    doc = json.loads(text)
    return "".join(
        letters(spoken("".join(seg.get("utf8", "") for seg in event.get("segs", []))))
        for event in doc["events"]
        if event.get("segs") and not event.get("aAppend")
    )


def reference(name, text, source):
    if name.endswith(".json3"):
        return reference_json3(text)
    return reference_auto(text) if source == "vtt_auto" else reference_uploaded(text)


# ---------------------------------------------------------------------------------------------


def read(path, transcript):
    return path.read_bytes().decode(transcript.encoding if transcript.encoding != "utf-8" else "utf-8-sig")


@pytest.mark.parametrize("name", FILES)
def test_real_subtitle_file(name):
    path = CORPUS / name
    if name in NOT_SUBTITLES:
        reason, detail = NOT_SUBTITLES[name]
        with pytest.raises(TranscriptError) as info:
            parse_subtitle_file(path, "real")
        assert info.value.reason == reason and detail in info.value.detail and str(path) in info.value.detail
        return
    transcript = parse_subtitle_file(path, "real")
    words = transcript.words
    assert words

    # nothing lost, nothing added: the same letters as the reference, in the same order (unless
    # cues had to be put in order: then the same letters)
    got = "".join(letters(w.text) for w in words)
    want = reference(name, read(path, transcript), transcript.source)
    repairs = dict(transcript.repairs)
    if "cues_reordered" in repairs or (transcript.source in ("vtt", "srt") and concurrent(read(path, transcript))):
        # cues put in order, or concurrent cues (their words interleave by start): the same letters
        assert sorted(got) == sorted(want)
    else:
        assert got == want

    # no markup, no word of punctuation alone
    for w in words:
        assert not re.search(r"[<>{}\[\]♪♫]|&[a-z]+;|&#\d+;", w.text), w.text
        assert not all(unicodedata.category(ch).startswith("P") and ch not in "&#%@" for ch in w.text), w.text
        assert not w.text.startswith("*") and not w.text.endswith("*"), w.text
        assert w.text == w.text.strip() and w.text

    # times in order
    for a, b in zip(words, words[1:]):
        assert a.start <= b.start and a.end <= b.start + 1e-9
    assert all(0 <= w.start <= w.end for w in words)

    # automatic captions vs uploaded subtitles told apart on whole-file evidence (man04 has "Hey." /
    # "Hey." in two cues, man06 a cue showing one line twice: uploaded all the same)
    assert (
        transcript.source
        == {"auto": "vtt_auto", "json": "json3", "man": "vtt", "srt": "srt"}[name[:4].rstrip("0123456789")]
    )
    assert set(EXPECTED_REPAIRS.get(name, ())) <= set(repairs), repairs
    assert transcript.encoding == ("cp1252" if "windows-1252" in name else "utf-8")

    # the video is clipped: sentences within the length cap, clips at every scale it is long enough for
    sentences, spans = transcript_to_clips(transcript, words[-1].end + 1.0, vidla_recipe())
    assert spans and all(s.end - s.start <= 20.0 or s.num_words == 1 for s in sentences)


def test_chinese_sentences_end_at_chinese_sentence_marks():
    from curate.text import make_sentences

    zh = parse_subtitle_file(CORPUS / "srt03_3b1b_barber_pole_chinese_auto.srt", "zh")
    sentences = make_sentences(zh)
    assert zh.punctuated and len(sentences) > 5
    # each ends at a sentence mark, or (cut to the length cap) after a comma
    assert all(s.text.endswith(("。", "？", "！", "，")) for s in sentences[:-1])
    assert sum(s.text.endswith("。") for s in sentences) > len(sentences) / 2
    # lines are joined without a space (the file's own spaces, e.g. "开 始", stay)
    assert "它会穿过一个线性偏振滤光片。" in sentences[0].text


@pytest.mark.parametrize("name", [n for n in FILES if n.startswith("auto") and n not in NOT_SUBTITLES])
def test_fast_path_for_most_lines_equals_the_line_by_line_path(name, monkeypatch):
    """Real captions have a "[Music]" or a "-" here and there: the lines without go at once."""
    from curate.text.subtitles import auto_captions

    fast = parse_subtitle_file(CORPUS / name, "real")
    monkeypatch.setattr(auto_captions, "_tagged_lines_fast", lambda tagged: (None, None))
    assert parse_subtitle_file(CORPUS / name, "real") == fast
