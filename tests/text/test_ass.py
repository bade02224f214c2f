"""SubStation (.ass/.ssa) subtitles: the Dialogue lines of [Events], by the field order of the Format
line, their override codes and escapes cleaned as in other formats; read as uploaded subtitles."""

import shutil
import subprocess
from pathlib import Path

import pytest

from curate.text import TranscriptError, parse_subtitle_file

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "realsubs" / "files"

ASS = """[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize
Style: Default,Arial,16

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Comment: 0,0:00:00.00,0:00:01.00,Default,,0,0,0,,not spoken: a translator's note
Dialogue: 0,0:00:01.00,0:00:03.50,Default,Ann,0,0,0,,{\\an8}Hello there,\\Nhow are you?
Dialogue: 0,0:00:04.00,0:00:06.25,Default,,0,0,0,,{\\k40}Sing {\\k60}with me
"""


def _words(transcript):
    return [w.text for w in transcript.words]


def test_dialogue_lines_become_words_with_their_times(tmp_path):
    path = tmp_path / "v.en.ass"
    path.write_text(ASS)
    transcript = parse_subtitle_file(str(path), "v")
    assert transcript.source == "ass" and transcript.language == "en"
    assert _words(transcript) == ["Hello", "there,", "how", "are", "you?", "Sing", "with", "me"]
    assert transcript.words[0].start == pytest.approx(1.0) and transcript.words[4].end == pytest.approx(3.5)
    assert transcript.words[5].start == pytest.approx(4.0) and transcript.words[-1].end == pytest.approx(6.25)


def test_fields_are_read_by_the_format_line_and_an_ssa_body_is_found_by_content(tmp_path):
    reordered = ASS.replace(
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text", "Format: Start, End, Text"
    ).replace("0,0:00:01.00,0:00:03.50,Default,Ann,0,0,0,,", "0:00:01.00,0:00:03.50,")
    path = tmp_path / "v.subtitle"  # no known extension: "[Script Info]" tells
    path.write_text(reordered.replace("0,0:00:04.00,0:00:06.25,Default,,0,0,0,,", "0:00:04.00,0:00:06.25,"))
    assert _words(parse_subtitle_file(str(path), "v"))[:2] == ["Hello", "there,"]


@pytest.mark.parametrize(
    "body, problem",
    [
        ("[Script Info]\nTitle: x\n", "no \\[Events\\] section"),
        (
            "[Script Info]\n[Events]\nFormat: Layer, Start, Style\nDialogue: 0,0:00:01.00,x\n",
            "must name Start, End and Text",
        ),
        ("[Script Info]\n[Events]\nDialogue: 0,0:00:01.00,0:00:02.00,,,0,0,0,,hi\n", "before the Format line"),
    ],
)
def test_a_file_that_is_not_readable_ass_names_the_file_and_the_problem(tmp_path, body, problem):
    path = tmp_path / "bad.ass"
    path.write_text(body)
    with pytest.raises(TranscriptError, match=problem) as caught:
        parse_subtitle_file(str(path), "v")
    assert "bad.ass" in str(caught.value)


def test_a_broken_dialogue_time_drops_that_line_and_is_counted(tmp_path):
    path = tmp_path / "v.ass"
    lines = [f"Dialogue: 0,0:00:{i:02d}.00,0:00:{i:02d}.90,Default,,0,0,0,,word{i}" for i in range(1, 20)]
    lines[5] = "Dialogue: 0,0:00:0x.00,0:00:06.90,Default,,0,0,0,,lost"
    path.write_text(ASS.split("Comment:")[0] + "\n".join(lines) + "\n")
    transcript = parse_subtitle_file(str(path), "v")
    assert "lost" not in _words(transcript) and len(transcript.words) == 18
    assert dict(transcript.repairs)["broken_dialogue_line_dropped"] == 1


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the real-subtitle corpus is not there ({CORPUS})")
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg converts the real SRT file to ASS")
def test_a_real_srt_converted_to_ass_by_ffmpeg_reads_as_the_srt_does(tmp_path):
    source = CORPUS / "srt01_3b1b_barber_pole_english.srt"
    converted = tmp_path / "srt01.en.ass"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), str(converted)], check=True)
    from_srt, from_ass = parse_subtitle_file(str(source), "v"), parse_subtitle_file(str(converted), "v")
    assert _words(from_ass) == _words(from_srt) and len(from_ass.words) > 1000
    # ASS keeps centiseconds
    assert max(abs(a.start - s.start) for a, s in zip(from_ass.words, from_srt.words)) <= 0.011
