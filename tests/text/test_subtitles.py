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
def test_every_format_of_the_sample_gives_each_spoken_word_once_at_its_time(sample_video, fmt, source, punctuated):
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
    "no_header": (b"00:00:01.000 --> 00:00:02.000\nhello\n", "subtitle_malformed"),
    "truncated": (
        b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhello\n\n00:00:02.000 --> 00:0",
        "subtitle_truncated",
    ),
    "garbled_timing": (
        b"WEBVTT\n\n00:00:01.000 -> 00:00:02.000\nhi\n\n00:00:03.000 --> 00:00:04.000\nyo\n",
        "subtitle_malformed",
    ),
    "absurd": (b"WEBVTT\n\n99:00:00.000 --> 99:00:01.000\nhello\n", "bad_timestamps"),
    "music_only": (b"WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n[Music]\n", "no_words"),
    "mostly_unreadable": (
        b"WEBVTT\n\n00:00:01.000 -> 00:00:02.000\nhi\n\n~00:00:03.000 --> 00:00:04.000\nyo\n\n"
        b"00:00:05.000 --> 00:00:06.000\nok\n",
        "subtitle_malformed",
    ),
    "fast_speech": (
        ("WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n" + "word " * 400 + "\n").encode(),
        "absurd_speech_rate",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_vtt_is_a_typed_error_naming_file_and_problem(tmp_path, case):
    content, reason = BAD[case]
    path = write(tmp_path, f"{case}.en.vtt", content)
    with pytest.raises(TranscriptError) as info:
        parse_subtitle_file(path, "vid42")
    assert info.value.reason == reason
    assert path in info.value.detail and info.value.video_id == "vid42"


FRENCH = [
    "Le café était très bon, déjà froid.",
    "Où est la gare ? À gauche, après l'hôpital.",
    "Ça m'étonnerait, répondit-il à sa sœur.",
    "Il était une fois une fée très âgée.",
    "Nous sommes allés à la fête élégante.",
]
# local defects: repaired, counted, no word lost
REPAIRED = {
    "reversed": (
        "WEBVTT\n\n00:00:05.000 --> 00:00:02.000\nhello there\n",
        "hello there",
        {"cue_time_repaired": 1},
    ),
    "endless_cue": ("WEBVTT\n\n00:00:00.000 --> 02:00:00.000\nhello\n", "hello", {"cue_time_repaired": 1}),
    "typo_in_a_start": (
        "WEBVTT\n\n00:00:10.000 --> 00:00:11.000\none\n\n00:00:01.300 --> 00:00:13.000\ntwo\n\n"
        "00:00:14.000 --> 00:00:15.000\nthree\n",
        "one two three",
        {"cue_time_repaired": 1},
    ),
    "out_of_order": (
        "WEBVTT\n\n00:00:05.000 --> 00:00:06.000\none\n\n00:00:01.000 --> 00:00:02.000\ntwo\n",
        "two one",
        {"cues_reordered": 1},
    ),
    "overlapping_cues_are_concurrent": (
        "WEBVTT\n\n00:00:01.000 --> 00:00:09.000\none\n\n00:00:02.000 --> 00:00:04.000\ntwo\n",
        "one two",
        {},
    ),
    "simultaneous_styled_cues": (
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000 line:10%\n{\\an8}A SIGN\n\n"
        "00:00:01.000 --> 00:00:04.000\nhello there\n\n00:00:05.000 --> 00:00:06.000\nbye\n",
        "A SIGN hello there bye",
        {"simultaneous_cues_merged": 1},
    ),
    "tags_backwards": (
        "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\na<00:00:03.000><c> b</c><00:00:02.000><c> c</c>\n",
        "a b c",
        {"word_start_clamped": 1},
    ),
    "whitespace_line_before_a_cue_number": (
        "WEBVTT\n\nNOTE x\n\n   \n1\n00:00:01.000 --> 00:00:02.000\nhola\n\n 2\n00:00:03.000 --> 00:00:04.000\nadios\n",
        "hola adios",
        {},
    ),
    "stray_cue_number": (
        "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nuno\n\n2\n3\n00:00:03.000 --> 00:00:04.000\ntres\n\n"
        + "".join(f"{n}\n00:00:{n:02d}.000 --> 00:00:{n:02d}.500\nw{n}\n\n" for n in range(5, 15)),
        "uno tres " + " ".join(f"w{n}" for n in range(5, 15)),
        {"stray_cue_number_skipped": 1},
    ),
    "a_broken_timing_line_among_many": (
        "WEBVTT\n\n"
        + "".join(f"00:00:{n:02d}.000 --> 00:00:{n:02d}.500\nw{n}\n\n" for n in range(1, 12))
        + "~00:00:15.000 --> 00:00:16.000\nlost?\n\n00:00:20.000 --> 00:00:21.000\nend\n",
        " ".join(f"w{n}" for n in range(1, 12)) + " lost? end",
        {"broken_timing_line_joined": 1},
    ),
    "a_block_without_timing_among_many": (
        "WEBVTT\n\n"
        + "".join(f"00:00:{n:02d}.000 --> 00:00:{n:02d}.500\nw{n}\n\n" for n in range(1, 12))
        + "just text\n\n00:00:20.000 --> 00:00:21.000\nend\n",
        " ".join(f"w{n}" for n in range(1, 12)) + " just text end",
        {"text_without_timing_joined": 1},
    ),
    "cues_without_a_blank_line": (
        "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nuno\n2\n00:00:03.000 --> 00:00:04.000\ndos\n",
        "uno dos",
        {"cues_without_blank_line_split": 1},
    ),
    "latin1": (
        "WEBVTT\n\n"
        + "".join(f"00:00:{k:02d}.000 --> 00:00:{k:02d}.900\n{line}\n\n" for k, line in enumerate(FRENCH, 1)),
        " ".join(FRENCH).replace(" ?", "?"),
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(REPAIRED))
def test_local_defects_are_repaired_and_counted(tmp_path, case):
    content, text, repairs = REPAIRED[case]
    data = content.encode("cp1252") if case == "latin1" else content.encode()
    transcript = parse_subtitle_file(write(tmp_path, f"{case}.vtt", data), "v")
    assert " ".join(w.text for w in transcript.words) == text
    assert all(a.start <= b.start and a.end <= b.start + 1e-9 for a, b in zip(transcript.words, transcript.words[1:]))
    if repairs is None:
        # a short text that cp1250 reads as cleanly ("trčs", "déjŕ"): its letters are French, so
        # cp1252, and the choice between differing readings is recorded
        assert transcript.encoding == "cp1252"
        assert dict(transcript.repairs) == {"decoded_as:cp1252": 1, "encoding_ambiguous:cp1250": 1}
    else:
        assert dict(transcript.repairs) == repairs and transcript.encoding == "utf-8"


def test_a_typo_in_a_start_keeps_the_cue_in_its_place(tmp_path):
    transcript = parse_subtitle_file(write(tmp_path, "t.vtt", REPAIRED["typo_in_a_start"][0]), "v")
    two = transcript.words[1]
    assert 11.0 <= two.start < 13.0 and two.end <= 14.0


AUTO_WITH_TWO_YEAHS = """WEBVTT
Kind: captions
Language: en

00:00:01.000 --> 00:00:02.000 align:start position:0%
 
Yeah.

00:00:02.000 --> 00:00:02.010 align:start position:0%
Yeah.
 

00:00:02.010 --> 00:00:03.000 align:start position:0%
Yeah.
Yeah.

00:00:03.000 --> 00:00:03.010 align:start position:0%
Yeah.
 

00:00:03.010 --> 00:00:05.000 align:start position:0%
Yeah.
so<00:00:03.500><c> what</c><00:00:04.000><c> now</c>
"""


def test_a_one_word_line_said_twice_in_automatic_captions_is_kept_twice(tmp_path):
    transcript = parse_subtitle_file(write(tmp_path, "a.en.vtt", AUTO_WITH_TWO_YEAHS), "a")
    assert [w.text for w in transcript.words] == ["Yeah.", "Yeah.", "so", "what", "now"]
    assert [w.start for w in transcript.words] == [1.0, 2.01, 3.01, 3.5, 4.0]
    assert transcript.source == "vtt_auto"


def test_an_uploaded_file_with_one_repeated_line_is_not_automatic(tmp_path):
    cues = ["Hey.", "Hey.", "What's up?", "Nothing much.", "Really?", "Yes."]
    text = "WEBVTT\n\n" + "".join(
        f"{k}\n00:00:{2 * k:02d}.000 --> 00:00:{2 * k + 1:02d}.000\n{c}\n\n" for k, c in enumerate(cues, 1)
    )
    transcript = parse_subtitle_file(write(tmp_path, "m.vtt", text), "m")
    assert transcript.source == "vtt" and [w.text for w in transcript.words][:2] == ["Hey.", "Hey."]


def test_automatic_captions_exported_as_srt_are_de_rolled(tmp_path):
    """YouTube's SRT export shows each cue until the one after next: every cue overlaps the next."""
    lines = ["so from today", "we are going", "to start the", "automation part"]
    starts = [3.12, 5.04, 5.839, 7.68]
    ends = [*starts[2:], 10.0, 10.0]
    text = "".join(
        f"{k + 1}\n00:00:{starts[k]:06.3f} --> 00:00:{ends[k]:06.3f}\n{line}\n\n".replace(".", ",")
        for k, line in enumerate(lines)
    )
    transcript = parse_subtitle_file(write(tmp_path, "r.en.srt", text), "r")
    assert " ".join(w.text for w in transcript.words) == " ".join(lines)
    assert dict(transcript.repairs) == {"overlap_trimmed": 3}
    firsts = [w.start for w in transcript.words if w.text in ("so", "we", "to", "automation")]
    assert firsts == pytest.approx(starts)


def test_rolled_up_lines_exported_as_srt_keep_each_line_once(tmp_path):
    cues = [
        (1.0, 3.0, "hello there\nmy friend"),
        (2.0, 4.0, "my friend\nhow are you"),
        (3.0, 5.0, "how are you\ntoday"),
    ]
    text = "".join(
        f"{k}\n00:00:0{a:.3f} --> 00:00:0{b:.3f}\n{t}\n\n".replace(".", ",") for k, (a, b, t) in enumerate(cues, 1)
    )
    transcript = parse_subtitle_file(write(tmp_path, "rolled.srt", text), "r")
    assert transcript.source == "srt_auto"
    assert " ".join(w.text for w in transcript.words) == "hello there my friend how are you today"


@pytest.mark.parametrize(
    "raw, spoken",
    [
        ("[woman singing\nin foreign language]\nHello.", "Hello."),
        ("{\\an8}Up here", "Up here"),
        ("Quoi ?\n- Rien !", "Quoi? Rien!"),
        ("- Hi – there ...", "Hi there..."),
        ("... – so", "so"),
        ("(upbeat music)\nWelcome", "Welcome"),
        ("*Really* good", "Really good"),
        ("Tom & Jerry", "Tom & Jerry"),
        ("今日は\nいい天気。明日も", "今日はいい天気。 明日も"),
        ("안녕하세요\n여러분", "안녕하세요 여러분"),
    ],
)
def test_clean_text_of_a_cue(raw, spoken):
    assert clean_text(raw) == spoken


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
        ("t.ass", "[Script Info]\nTitle: x\n", "subtitle_malformed"),  # no [Events] (tests/text/test_ass.py)
        ("t.sub", "00:00:01 MicroDVD and other formats\n", "subtitle_unknown_format"),
    ],
)
def test_bad_srt_json3_and_unknown_files(tmp_path, name, content, reason):
    path = write(tmp_path, name, content)
    with pytest.raises(TranscriptError) as info:
        parse_subtitle_file(path, "v")
    assert info.value.reason == reason and path in info.value.detail


def test_binary_data_is_not_text(tmp_path):
    path = write(tmp_path, "b.srt", bytes(range(256)) * 8)
    with pytest.raises(TranscriptError) as info:
        parse_subtitle_file(path, "v")
    assert info.value.reason == "subtitle_not_text" and path in info.value.detail


def test_utf16_subtitles_are_read_and_their_encoding_recorded(tmp_path):
    text = "1\n00:00:01,000 --> 00:00:02,000\nHallo Welt, schön.\n\n2\n00:00:02,500 --> 00:00:04,000\nJa!\n"
    transcript = parse_subtitle_file(write(tmp_path, "u.srt", text.encode("utf-16")), "v")
    assert [w.text for w in transcript.words] == ["Hallo", "Welt,", "schön.", "Ja!"]
    assert transcript.encoding == "utf_16" and dict(transcript.repairs) == {"decoded_as:utf_16": 1}


def test_missing_file_is_a_typed_error(tmp_path):
    with pytest.raises(TranscriptError) as info:
        parse_subtitle_file(str(tmp_path / "gone.vtt"), "v")
    assert info.value.reason == "subtitle_unreadable"


def test_whole_file_fast_path_equals_the_line_by_line_path(sample_video_long, monkeypatch):
    from curate.text.subtitles import auto_captions

    path = sample_video_long.subtitles["vtt_auto"]
    fast = parse_subtitle_file(path, "v")
    monkeypatch.setattr(auto_captions, "_tagged_lines_at_once", lambda entries: None)
    assert parse_subtitle_file(path, "v") == fast
