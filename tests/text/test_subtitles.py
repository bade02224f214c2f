"""Subtitle parsing: every format of the generated media against its truth, real-world quirks, and
a typed error for every kind of bad file."""

import json

import pytest

from curate.text import TranscriptError, parse_subtitle_file
from curate.text.subtitles import clean_text
from curate.text.words import normalize_token


def truth_words(sample):
    return [w for s in sample.sentences for w in s.words]


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


@pytest.mark.parametrize(
    "fmt, source, punctuated",
    [
        ("vtt_auto", "vtt_auto", False),
        ("vtt", "vtt", True),
        ("srt", "srt", True),
        ("json3", "json3", False),
    ],
)
def test_every_format_of_the_sample_gives_each_spoken_word_once_at_its_time(
    sample_video, fmt, source, punctuated
):
    transcript = parse_subtitle_file(sample_video.subtitles[fmt], sample_video.video_id)
    truth = truth_words(sample_video)
    assert transcript.source == source and transcript.punctuated is punctuated
    assert transcript.video_id == sample_video.video_id
    assert [normalize_token(w.text) for w in transcript.words] == [normalize_token(w.text) for w in truth]
    # automatic captions carry every word's start; uploaded ones only each cue's (words inside are spread)
    tolerance = 0.002 if fmt in ("vtt_auto", "json3") else 0.3
    for got, want in zip(transcript.words, truth):
        assert got.start == pytest.approx(want.start, abs=tolerance)
        assert got.start <= got.end
    assert all(a.end <= b.start + 1e-9 for a, b in zip(transcript.words, transcript.words[1:]))
    # sentence starts and ends are exact in every format (the ends of auto captions are estimated)
    assert all(min(abs(w.start - s.start) for w in transcript.words) < 0.002 for s in sample_video.sentences)
    if punctuated:
        assert all(min(abs(w.end - s.end) for w in transcript.words) < 0.002 for s in sample_video.sentences)


def test_main_subtitle_file_has_language_from_its_name(sample_video):
    transcript = parse_subtitle_file(sample_video.subtitle_path, sample_video.video_id)
    assert transcript.language == "en" and transcript.source == "vtt_auto"


ROLLING = """WEBVTT
Kind: captions
Language: en

00:00:00.320 --> 00:00:03.790 align:start position:0%
 
[Music]

00:00:03.790 --> 00:00:03.800 align:start position:0%
 
 

00:00:03.800 --> 00:00:06.790 align:start position:0%
 
so<00:00:04.039><c> the</c><00:00:04.359><c> study</c><00:00:04.840><c> said</c>

00:00:06.790 --> 00:00:06.800 align:start position:0%
so the study said
 

00:00:06.800 --> 00:00:10.950 align:start position:0%
so the study said
&gt;&gt; fifteen<00:00:07.800><c> percent</c><00:00:08.039><c> fewer</c><00:00:08.279><c> sick</c><00:00:08.600><c> days</c>

00:00:10.950 --> 00:00:10.960 align:start position:0%
fifteen percent fewer sick days
 

00:00:10.960 --> 00:00:12.109 align:start position:0%
fifteen percent fewer sick days
no<00:00:11.300><c> no</c><00:00:11.600><c> no</c>

00:00:12.109 --> 00:00:12.119 align:start position:0%
no no no
 

00:00:12.119 --> 00:00:13.000 align:start position:0%
no no no
okay

00:00:13.000 --> 00:00:13.010 align:start position:0%
okay
 

00:00:13.010 --> 00:00:14.000 align:start position:0%
okay
[Applause]
"""


def test_rolling_auto_captions_keep_each_word_once_and_drop_annotations(tmp_path):
    transcript = parse_subtitle_file(write(tmp_path, "v.en.vtt", ROLLING), "v")
    assert [w.text for w in transcript.words] == (
        "so the study said fifteen percent fewer sick days no no no okay".split()
    )
    starts = [w.start for w in transcript.words]
    assert starts[:4] == [3.8, 4.039, 4.359, 4.84]
    assert starts[4] == 6.8  # the untagged first word of a line starts with its cue
    assert transcript.words[-1].start == 12.119  # a one-word line has no tags: it is new speech
    assert transcript.source == "vtt_auto" and not transcript.punctuated and transcript.language == "en"
    # an auto caption word ends at the next word, or earlier when a pause follows it
    said = transcript.words[3]
    assert said.end < 6.8 and said.end > said.start


MANUAL_VTT = """WEBVTT - uploaded

STYLE
::cue { color: yellow }

NOTE a comment
that spans lines

intro
00:00:01.000 --> 00:00:03.500 line:90% align:center
<v Anna>- Hello &amp; welcome,</v>
<i>everyone</i>.

00:03.500 --> 00:06.000
>> BOB: Thanks, Anna! [laughs]

3
00:00:06.000 --> 00:00:08.000
(APPLAUSE)
♪ la la ♪
"""


def test_manual_vtt_markup_speakers_and_annotations(tmp_path):
    transcript = parse_subtitle_file(write(tmp_path, "m.vtt", MANUAL_VTT), "m")
    assert [w.text for w in transcript.words] == [
        "Hello",
        "&",
        "welcome,",
        "everyone.",
        "Thanks,",
        "Anna!",
        "la",
        "la",
    ]
    assert transcript.source == "vtt" and transcript.punctuated
    first_cue = transcript.words[:4]
    assert first_cue[0].start == 1.0 and first_cue[-1].end == 3.5
    assert all(a.end == pytest.approx(b.start) for a, b in zip(first_cue, first_cue[1:]))
    assert transcript.words[4].start == 3.5  # mm:ss.ttt timestamps


def test_srt_with_tags_and_a_small_overlap(tmp_path):
    text = (
        "1\n00:00:00,500 --> 00:00:02,600\n<i>First line</i> here.\n\n"
        '2\n00:00:02,400 --> 00:00:04,000\n<font color="red">Second</font> one?\n\n'
    )
    transcript = parse_subtitle_file(write(tmp_path, "s.srt", text), "s")
    assert [w.text for w in transcript.words] == ["First", "line", "here.", "Second", "one?"]
    assert transcript.words[2].end == 2.4  # the first cue was cut where the second starts


def test_json3_uploaded_captions_spread_words_over_the_event(tmp_path):
    doc = {
        "events": [
            {"tStartMs": 1000, "dDurationMs": 2000, "segs": [{"utf8": "One two, three."}]},
            {"tStartMs": 3000, "dDurationMs": 1000, "aAppend": 1, "segs": [{"utf8": "\n"}]},
            {"tStartMs": 4000, "dDurationMs": 1000, "segs": [{"utf8": "[Music]"}]},
            {"tStartMs": 5000, "dDurationMs": 1000, "segs": [{"utf8": "Four."}]},
        ]
    }
    transcript = parse_subtitle_file(write(tmp_path, "j.en.json3", json.dumps(doc)), "j")
    assert [(w.text, w.start) for w in transcript.words][::3] == [("One", 1.0), ("Four.", 5.0)]
    assert transcript.words[2].end == 3.0 and transcript.punctuated and transcript.language == "en"


def test_format_is_sniffed_without_a_known_extension(tmp_path, sample_video):
    for fmt in ("vtt_auto", "srt", "json3"):
        content = open(sample_video.subtitles[fmt], encoding="utf-8").read()
        assert len(parse_subtitle_file(write(tmp_path, f"x_{fmt}.txt", content), "x").words) > 10


@pytest.mark.parametrize(
    "text",
    [
        "- Where are you?",
        "-- Here.",
        ">> And then",
        "JOHN: Hi",
        "[Music]",
        "(LAUGHTER) yes",
        "&gt;&gt; so",
        "it&#39;s fine",
        "<c.colorE5E5E5>tagged</c>",
        "a&nbsp;b",
    ],
)
def test_clean_text_keeps_only_spoken_words(text):
    cleaned = clean_text(text)
    assert not any(mark in cleaned for mark in ("[", "(", ">>", "<", "&", "JOHN"))
    assert "-" not in cleaned.split()[:1]


# ---------------------------------------------------------------------------------------------
# bad files: one typed error naming the file and the problem


BAD = {
    "empty": (b"", "subtitle_empty"),
    "blank": (b"\n  \n", "subtitle_empty"),
    "latin1": ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\ncaf\xe9\n".encode("latin-1"), "subtitle_not_utf8"),
    "no_header": (b"00:00:01.000 --> 00:00:02.000\nhello\n", "subtitle_malformed"),
    "truncated": (
        b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhello\n\n00:00:02.000 --> 00:0",
        "subtitle_truncated",
    ),
    "garbled_timing": (
        b"WEBVTT\n\n00:00:01.000 -> 00:00:02.000\nhi\n\n00:00:03.000 --> 00:00:04.000\nyo\n",
        "subtitle_malformed",
    ),
    "reversed": (b"WEBVTT\n\n00:00:05.000 --> 00:00:02.000\nhello\n", "bad_timestamps"),
    "absurd": (b"WEBVTT\n\n99:00:00.000 --> 99:00:01.000\nhello\n", "bad_timestamps"),
    "endless_cue": (b"WEBVTT\n\n00:00:00.000 --> 02:00:00.000\nhello\n", "bad_timestamps"),
    "overlapping": (
        b"WEBVTT\n\n00:00:01.000 --> 00:00:09.000\none\n\n00:00:02.000 --> 00:00:04.000\ntwo\n",
        "bad_timestamps",
    ),
    "out_of_order": (
        b"WEBVTT\n\n00:00:05.000 --> 00:00:06.000\none\n\n00:00:01.000 --> 00:00:02.000\ntwo\n",
        "bad_timestamps",
    ),
    "tags_backwards": (
        b"WEBVTT\n\n00:00:01.000 --> 00:00:04.000\na<00:00:03.000><c> b</c><00:00:02.000><c> c</c>\n",
        "bad_timestamps",
    ),
    "music_only": (b"WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n[Music]\n", "no_words"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_vtt_is_a_typed_error_naming_file_and_problem(tmp_path, case):
    content, reason = BAD[case]
    path = write(tmp_path, f"{case}.en.vtt", content)
    with pytest.raises(TranscriptError) as info:
        parse_subtitle_file(path, "vid42")
    assert info.value.reason == reason
    assert path in info.value.detail and info.value.video_id == "vid42"


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("t.srt", "1\n00:00:01,000 --> 00:00:02,000\nhi\n\n2\n00:00:0", "subtitle_truncated"),
        ("t.srt", "just some text\nwith no timing\n", "subtitle_malformed"),
        ("t.json3", '{"events": [{"tStartMs": 0, "segs": [{"utf8": "hi"', "subtitle_truncated"),
        ("t.json3", '{"events": {}}', "subtitle_malformed"),
        ("t.json3", '{"events": [{"tStartMs": "soon", "segs": [{"utf8": "hi"}]}]}', "subtitle_malformed"),
        ("t.json3", '{"events": [{"tStartMs": -5, "segs": [{"utf8": "hi"}]}]}', "bad_timestamps"),
        ("t.json3", '{"events": []}', "no_words"),
        ("t.ass", "[Script Info]\nTitle: x\n", "subtitle_unknown_format"),
    ],
)
def test_bad_srt_json3_and_unknown_files(tmp_path, name, content, reason):
    path = write(tmp_path, name, content)
    with pytest.raises(TranscriptError) as info:
        parse_subtitle_file(path, "v")
    assert info.value.reason == reason and path in info.value.detail


def test_missing_file_is_a_typed_error(tmp_path):
    with pytest.raises(TranscriptError) as info:
        parse_subtitle_file(str(tmp_path / "gone.vtt"), "v")
    assert info.value.reason == "subtitle_unreadable"


def test_whole_file_fast_path_equals_the_line_by_line_path(sample_video_long, monkeypatch):
    from curate.text import subtitles

    path = sample_video_long.subtitles["vtt_auto"]
    fast = parse_subtitle_file(path, "v")
    monkeypatch.setattr(subtitles, "_tagged_lines_at_once", lambda entries: None)
    assert parse_subtitle_file(path, "v") == fast
