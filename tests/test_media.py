"""The test-media generator: the files a yt-dlp download folder holds, and truth that matches them."""

import json
import re
import subprocess

import numpy as np
import pytest

import samplemedia as samples
from curate.__main__ import main as curate_main


def ffprobe(path) -> dict:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_type,codec_name,width,height",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def vtt_seconds(stamp: str) -> float:
    h, m, s = stamp.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_sample_video_is_720p_h264_with_aac_audio_of_the_stated_length(sample_video):
    probe = ffprobe(sample_video.media_path)
    streams = {s["codec_type"]: s for s in probe["streams"]}
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (1280, 720)
    assert streams["audio"]["codec_name"] == "aac"
    assert float(probe["format"]["duration"]) == pytest.approx(sample_video.duration, abs=0.1)
    assert sample_video.sentences[-1].end < sample_video.duration


def test_truth_sentences_are_ordered_and_their_words_tile_them(sample_video):
    sentences = sample_video.sentences
    assert [s.text for s in sentences] == __import__("factories").SAMPLE_SENTENCES
    for s in sentences:
        assert s.start < s.end
        assert s.words[0].start == s.start and s.words[-1].end == s.end
        assert [w.text for w in s.words] == s.text.split()
        assert all(a.end == pytest.approx(b.start) for a, b in zip(s.words, s.words[1:]))
    for a, b in zip(sentences, sentences[1:]):
        assert b.start - a.end == pytest.approx(0.6, abs=0.001)  # the pause between sentences


def test_truth_times_are_where_the_audio_is_loud():
    audio, truth = samples.synthesize_speech(["One short sentence.", "And another one."], pause=1.0)
    loud = np.abs(audio.astype(int)) > 200
    for s in truth:
        i, j = int(round(s.start * samples.SAMPLE_RATE)), int(round(s.end * samples.SAMPLE_RATE))
        assert loud[i] and loud[j - 1]
        assert not loud[i - 200 : i].any() and not loud[j + 1 : j + 200].any()


def test_folder_has_the_yt_dlp_layout_and_info_json_shape(sample_video):
    info = json.loads(open(sample_video.info_path).read())
    assert info["id"] == sample_video.video_id
    assert (info["width"], info["height"]) == (1280, 720)
    assert info["duration"] == pytest.approx(sample_video.duration, abs=0.01)
    assert info["categories"] == ["Education"]
    assert max(f["height"] or 0 for f in info["formats"]) == 720
    assert "vtt" in {s["ext"] for s in info["automatic_captions"]["en"]}
    assert info["subtitles"] == {}
    assert info["requested_subtitles"]["en"]["ext"] == "vtt"
    assert sample_video.subtitle_path.endswith(f"{sample_video.video_id}.en.vtt")
    assert open(sample_video.subtitle_path).read() == open(sample_video.subtitles["vtt_auto"]).read()
    assert samples.load_truth(sample_video.truth_path) == sample_video.sentences


def test_auto_vtt_rolls_like_youtube_and_its_word_tags_match_the_truth(sample_video):
    text = open(sample_video.subtitles["vtt_auto"]).read()
    assert text.startswith("WEBVTT\nKind: captions\nLanguage: en\n\n")
    cues = [c.split("\n") for c in text.split("\n\n")[1:] if c.strip()]
    timings = [re.match(r"(\S+) --> (\S+) align:start position:0%$", c[0]).groups() for c in cues]
    # a timed cue, then a 10 ms cue showing the finished line, then the next cue repeating it
    for (timed, transition), (_t0, t1) in zip(zip(cues[::2], cues[1::2]), zip(timings[::2], timings[1::2])):
        assert "<c>" in timed[2] and "<c>" not in transition[1] and transition[2] == " "
        assert vtt_seconds(t1[1]) - vtt_seconds(t1[0]) == pytest.approx(0.010, abs=1e-6)
        assert re.sub(r"<[^>]+>", "", timed[2]) == transition[1]
    for previous_transition, timed in zip(cues[1::2], cues[2::2]):
        assert timed[1] == previous_transition[1]
    tagged = [(w, vtt_seconds(t)) for t, w in re.findall(r"<([\d:.]+)><c> ([^<]+)</c>", text)]
    truth_words = [w for s in sample_video.sentences for w in s.words]
    spoken = " ".join(re.sub(r"[^\w']", "", w.text.lower()) for w in truth_words)
    shown = " ".join(cue[1] for cue in cues[1::2])
    assert shown == spoken  # every word exactly once across the finished lines, lowercase, unpunctuated
    starts = {round(w.start, 3) for w in truth_words}
    assert all(round(t, 3) in starts for _, t in tagged)


def test_manual_formats_carry_punctuated_sentences_at_true_times(sample_video):
    srt = open(sample_video.subtitles["srt"]).read()
    blocks = [b.split("\n") for b in srt.strip().split("\n\n")]
    assert [b[0] for b in blocks] == [str(i) for i in range(1, len(blocks) + 1)]
    first_start = vtt_seconds(blocks[0][1].split(" --> ")[0])
    assert first_start == pytest.approx(sample_video.sentences[0].start, abs=0.001)
    assert " ".join(" ".join(b[2:]) for b in blocks) == " ".join(s.text for s in sample_video.sentences)
    vtt = open(sample_video.subtitles["vtt"]).read()
    assert vtt.startswith("WEBVTT\n") and "<c>" not in vtt and "?" in vtt


def test_json3_has_youtube_events_with_word_offsets(sample_video):
    doc = json.loads(open(sample_video.subtitles["json3"]).read())
    words = [
        (seg["utf8"].strip(), (event["tStartMs"] + seg.get("tOffsetMs", 0)) / 1000)
        for event in doc["events"]
        for seg in event.get("segs", ())
        if seg["utf8"].strip()
    ]
    truth_words = [w for s in sample_video.sentences for w in s.words]
    assert [w for w, _ in words] == [re.sub(r"[^\w']", "", w.text.lower()) for w in truth_words]
    assert [t for _, t in words] == pytest.approx([w.start for w in truth_words], abs=0.001)


def test_real_footage_backgrounds_are_scaled_to_720p(sample_video_bikes):
    probe = ffprobe(sample_video_bikes.media_path)
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (1280, 720)
    # bikes.mp4 is 10 s long: it was looped to fill the requested 15 s
    assert float(probe["format"]["duration"]) == pytest.approx(15.0, abs=0.1)
    info = json.loads(open(sample_video_bikes.info_path).read())
    assert info["categories"] == ["Sports"] and "vtt" in {s["ext"] for s in info["subtitles"]["en"]}


def test_vtest_footage_and_silent_video(tmp_path):
    video = samples.make_sample_video(
        tmp_path,
        "vt",
        ["Short one."],
        background="vtest",
        audio=False,
        min_duration=3.0,
        main_subtitle="none",
    )
    probe = ffprobe(video.media_path)
    assert [s["codec_type"] for s in probe["streams"]] == ["video"]
    assert video.subtitle_path == "" and json.loads(open(video.info_path).read())["requested_subtitles"] is None


def test_unknown_background_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="background"):
        samples.make_sample_video(tmp_path, "x", ["Hi."], background="stars")


def test_sentence_generator_is_deterministic_and_varied():
    first = samples.sentences_for(120, seed=3)
    assert first == samples.sentences_for(120, seed=3)
    assert first != samples.sentences_for(120, seed=4)
    assert len(set(first)) > len(first) * 0.8
    assert any(s.endswith("?") for s in first) and all(s[0].isupper() for s in first)


def test_make_media_command_writes_a_folder(tmp_path):
    assert curate_main(["make-media", "--output", str(tmp_path), "--num-videos", "2", "--seconds", "10"]) == 0
    mp4s = sorted(tmp_path.glob("*.mp4"))
    assert len(mp4s) == 2
    for mp4 in mp4s:
        assert float(ffprobe(mp4)["format"]["duration"]) == pytest.approx(10.0, abs=1.5)
        assert (tmp_path / mp4.name.replace(".mp4", ".en.vtt")).exists()
