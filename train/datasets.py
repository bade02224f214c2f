"""Annotation loaders of the standard video-text retrieval benchmarks, over the user's local videos.

Each loader reads the annotation file in its published format and returns a ``RetrievalSet``: the
videos found under ``videos_dir`` and the query texts with the index of their video. Annotated videos
that are missing locally are left out with their texts and listed in ``missing`` (never silently).

| dataset | annotation file | video file |
|---|---|---|
| msrvtt | MSRVTT_JSFUSION_test.csv (the 1k-A test split: key,vid_key,video_id,sentence) | <video_id>.mp4 |
| didemo | test_data.json (list of {video, description, times, ...}) | <video stem>.* |
| activitynet | val_1.json / val_2.json ({v_id: {duration, timestamps, sentences}}) | v_<id>.* or <id>.* |
| msvd | MSR Video Description Corpus.csv (VideoID,Start,End,...,Language,Description) | <VideoID>_<Start>_<End>.*|
| vatex | vatex_public_test_english_v1.1.json / vatex_validation_v1.0.json ([{videoID, enCap}]) | <videoID>.*  |

Zero-shot classification (VidLA appendix D) reads a label file: Kinetics' csv (label, youtube_id,
time_start, time_end[, split]; videos named <youtube_id>_<start:06d>_<end:06d>.* or <youtube_id>.*,
flat or in a folder per label) or a csv/tsv/JSON lines file with video and label columns.

DiDeMo and ActivityNet are evaluated paragraph-to-video by default (VidLA section 5): all sentences
of a video joined into one query. MSR-VTT multiple choice (VidLA appendix C) reads JSFusion's
MSR_MC_test.csv (tab-separated key, vid_key, a1..a5, answer) or JSON lines with video/options/answer.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import NamedTuple, Optional

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v", ".3gp", ".mpg", ".mpeg")


class AnnotationError(ValueError):
    """An annotation file that cannot be read in the expected format."""


class RetrievalSet(NamedTuple):
    name: str
    video_ids: tuple  # one per video
    video_paths: tuple  # local file of each video
    texts: tuple  # the queries
    video_of_text: tuple  # index into video_ids of each text's video
    missing: tuple = ()  # annotated video ids with no local file


class MultipleChoiceSet(NamedTuple):
    video_ids: tuple
    video_paths: tuple
    candidates: tuple  # tuple of candidate texts per question
    answers: tuple  # index of the right candidate per question
    missing: tuple = ()


class ClassificationSet(NamedTuple):
    video_ids: tuple
    video_paths: tuple
    labels: tuple  # index into class_names per video
    class_names: tuple  # sorted
    missing: tuple = ()


def find_video(videos_dir, name: str, subfolder: str = "") -> Optional[Path]:
    """``videos_dir/name`` if it exists, else the first ``videos_dir/<stem><ext>`` that does; with
    ``subfolder``, ``videos_dir/subfolder`` is searched first."""
    if subfolder:
        found = find_video(Path(videos_dir) / subfolder, name)
        if found:
            return found
    folder = Path(videos_dir)
    exact = folder / name
    if exact.is_file():
        return exact
    stem = Path(name).stem if Path(name).suffix.lower() in VIDEO_EXTENSIONS else name
    for ext in VIDEO_EXTENSIONS:
        candidate = folder / f"{stem}{ext}"
        if candidate.is_file():
            return candidate
    return None


def _build(name: str, texts_by_video: dict, videos_dir, paragraph: bool) -> RetrievalSet:
    """``{video name: [texts]}`` (in file order) -> RetrievalSet over the videos found locally."""
    ids, paths, texts, owners, missing = [], [], [], [], []
    for video, video_texts in texts_by_video.items():
        path = find_video(videos_dir, video)
        if path is None:
            missing.append(video)
            continue
        if paragraph:
            video_texts = [" ".join(t.strip() for t in video_texts)]
        ids.append(Path(video).stem if Path(video).suffix.lower() in VIDEO_EXTENSIONS else video)
        paths.append(str(path))
        for text in video_texts:
            texts.append(text.strip())
            owners.append(len(ids) - 1)
    if not ids:
        raise AnnotationError(f"{name}: none of the {len(texts_by_video)} annotated videos is in {videos_dir}")
    return RetrievalSet(name, tuple(ids), tuple(paths), tuple(texts), tuple(owners), tuple(missing))


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise AnnotationError(f"cannot read {path} as JSON: {exc}") from exc


def _read_csv(path, delimiter=",", required=()) -> list:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter=delimiter))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise AnnotationError(f"cannot read {path} as CSV: {exc}") from exc
    if rows and not set(required) <= set(rows[0]):
        raise AnnotationError(f"{path}: expected columns {sorted(required)}, found {sorted(rows[0])}")
    return rows


def load_msrvtt(annotations, videos_dir, paragraph: bool = False) -> RetrievalSet:
    by_video = {}
    for row in _read_csv(annotations, required=("video_id", "sentence")):
        by_video.setdefault(row["video_id"], []).append(row["sentence"])
    return _build("msrvtt", by_video, videos_dir, paragraph)


def load_didemo(annotations, videos_dir, paragraph: bool = True) -> RetrievalSet:
    doc = _read_json(annotations)
    if not isinstance(doc, list) or (doc and not {"video", "description"} <= set(doc[0])):
        raise AnnotationError(f"{annotations}: expected DiDeMo's list of {{video, description, times}}")
    by_video = {}
    for moment in doc:
        by_video.setdefault(moment["video"], []).append(moment["description"])
    return _build("didemo", by_video, videos_dir, paragraph)


def load_activitynet(annotations, videos_dir, paragraph: bool = True) -> RetrievalSet:
    doc = _read_json(annotations)
    if not isinstance(doc, dict) or any(not isinstance(v, dict) or "sentences" not in v for v in doc.values()):
        raise AnnotationError(f"{annotations}: expected ActivityNet Captions' {{video_id: {{sentences, ...}}}}")
    by_video = {}
    for video, entry in doc.items():
        # videos are stored both as v_<id> (the annotation's key) and as <id> (as YouTube names them)
        stripped = video.removeprefix("v_")
        local = stripped if not find_video(videos_dir, video) and find_video(videos_dir, stripped) else video
        by_video[local] = list(entry["sentences"])
    return _build("activitynet", by_video, videos_dir, paragraph)


def load_msvd(annotations, videos_dir, paragraph: bool = False, split: Optional[str] = None) -> RetrievalSet:
    """English descriptions of the MSR Video Description Corpus; ``split``: a file of the clip names
    to keep, one per line (e.g. the usual 670-video test list)."""
    keep = None
    if split:
        keep = {line.strip() for line in Path(split).read_text().splitlines() if line.strip()}
    by_video = {}
    for row in _read_csv(annotations, required=("VideoID", "Start", "End", "Language", "Description")):
        if row["Language"] != "English" or not (row["Description"] or "").strip():
            continue
        clip = f"{row['VideoID']}_{row['Start']}_{row['End']}"
        if keep is None or clip in keep:
            by_video.setdefault(clip, []).append(row["Description"])
    return _build("msvd", by_video, videos_dir, paragraph)


def load_vatex(annotations, videos_dir, paragraph: bool = False) -> RetrievalSet:
    doc = _read_json(annotations)
    if not isinstance(doc, list) or (doc and not {"videoID", "enCap"} <= set(doc[0])):
        raise AnnotationError(f"{annotations}: expected VATEX's list of {{videoID, enCap, chCap}}")
    return _build("vatex", {entry["videoID"]: list(entry["enCap"]) for entry in doc}, videos_dir, paragraph)


LOADERS = {
    "msrvtt": load_msrvtt,
    "didemo": load_didemo,
    "activitynet": load_activitynet,
    "msvd": load_msvd,
    "vatex": load_vatex,
}
PARAGRAPH_BY_DEFAULT = {"didemo", "activitynet"}


def load_multiple_choice(annotations, videos_dir) -> MultipleChoiceSet:
    """MSR-VTT multiple choice: JSFusion's tab-separated MSR_MC_test.csv (key, vid_key = msrN for
    videoN, a1..a5, answer as a 0-based index), or JSON lines {"video"|"clip_name"|"video_id",
    "options"|"candidates", "answer"}."""
    text = Path(annotations).read_text(encoding="utf-8")
    questions = []
    if Path(annotations).suffix in (".json", ".jsonl"):
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise AnnotationError(f"cannot read {annotations} as JSON lines: {exc}") from exc
        for row in rows:
            video = row.get("video") or row.get("clip_name") or row.get("video_id")
            options = row.get("options") or row.get("candidates")
            if video is None or not options or "answer" not in row:
                raise AnnotationError(f"{annotations}: a line lacks video, options or answer: {row}")
            questions.append((video, tuple(options), int(row["answer"])))
    else:
        rows = _read_csv(annotations, delimiter="\t", required=("vid_key", "a1", "answer"))
        for row in rows:
            options = tuple(
                row[k] for k in sorted((k for k in row if k[:1] == "a" and k[1:].isdigit()), key=lambda k: int(k[1:]))
            )
            questions.append((row["vid_key"].replace("msr", "video", 1), options, int(row["answer"])))
    ids, paths, candidates, answers, missing = [], [], [], [], []
    for video, options, answer in questions:
        if not 0 <= answer < len(options):
            raise AnnotationError(
                f"{annotations}: answer {answer} of {video} is not an index into its {len(options)} options"
            )
        path = find_video(videos_dir, video)
        if path is None:
            missing.append(video)
            continue
        ids.append(video)
        paths.append(str(path))
        candidates.append(options)
        answers.append(answer)
    if not ids:
        raise AnnotationError(f"none of the {len(questions)} multiple-choice videos is in {videos_dir}")
    return MultipleChoiceSet(tuple(ids), tuple(paths), tuple(candidates), tuple(answers), tuple(missing))


def _read_rows(path) -> list:
    """Rows of a csv, tsv or JSON lines file as dicts."""
    if Path(path).suffix in (".json", ".jsonl"):
        try:
            text = Path(path).read_text(encoding="utf-8")
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except (OSError, ValueError) as exc:
            raise AnnotationError(f"cannot read {path} as JSON lines: {exc}") from exc
    return _read_csv(path, delimiter="\t" if Path(path).suffix == ".tsv" else ",")


def load_classification(labels_file, videos_dir) -> ClassificationSet:
    """Videos and their class labels from a Kinetics csv or a video/label file (module docstring)."""
    rows = _read_rows(labels_file)
    if not rows:
        raise AnnotationError(f"{labels_file} holds no rows")
    columns = set(rows[0])
    kinetics = {"label", "youtube_id", "time_start", "time_end"} <= columns
    if not kinetics and not {"video", "label"} <= columns:
        raise AnnotationError(
            f"{labels_file}: expected Kinetics columns label,youtube_id,time_start,time_end or video,label; "
            f"found {sorted(columns)}"
        )
    items = []
    for row in rows:
        label = str(row["label"]).strip()
        if kinetics:
            youtube_id = row["youtube_id"]
            start, end = int(float(row["time_start"])), int(float(row["time_end"]))
            names = [f"{youtube_id}_{start:06d}_{end:06d}", youtube_id]
        else:
            names = [str(row["video"])]
        if not label or not names[0]:
            raise AnnotationError(f"{labels_file}: a row lacks its video or label: {row}")
        path = next((p for p in (find_video(videos_dir, n, subfolder=label) for n in names) if p), None)
        items.append((names[0], label, path))
    class_names = tuple(sorted({label for _, label, _ in items}))
    index = {name: i for i, name in enumerate(class_names)}
    found = [(v, index[label], str(p)) for v, label, p in items if p is not None]
    missing = tuple(v for v, _, p in items if p is None)
    if not found:
        raise AnnotationError(f"none of the {len(items)} labelled videos of {labels_file} is in {videos_dir}")
    return ClassificationSet(
        tuple(v for v, _, _ in found),
        tuple(p for _, _, p in found),
        tuple(i for _, i, _ in found),
        class_names,
        missing,
    )


# --- action classification splits (VIMPAC's fine-tuning and linear-probe datasets) ---------------------

ACTION_LAYOUTS = ("ucf101", "hmdb51", "ssv2", "kinetics400")


def load_action_split(layout: str, annotations, videos_dir, role: str = "test", split: int = 1) -> ClassificationSet:
    """One split of an action classification dataset in its published layout:

    - ``ucf101``: ucfTrainTestlist's trainlist0N.txt / testlist0N.txt (``Class/v_..._gXX_cYY.avi [label]``);
      the class is the folder; videos at ``videos_dir/Class/v_....avi`` or flat;
    - ``hmdb51``: the folder of testTrainMulti_7030_splits (``<class>_test_split<N>.txt``, lines
      ``<video>.avi 1|2|0``: 1 train, 2 test, 0 unused); ``role`` and ``split`` pick the videos; videos at
      ``videos_dir/<class>/<video>.avi`` or flat;
    - ``ssv2``: something-something-v2-train.json / -validation.json (``[{"id", "template"}]``; the class is
      the template without brackets); videos ``<id>.webm``;
    - ``kinetics400``: Kinetics' csv (``load_classification``).

    Class names are sorted; indices are into them (``align_classes`` puts two splits on one list)."""
    if layout not in ACTION_LAYOUTS:
        raise AnnotationError(f"unknown layout {layout!r}; expected one of {ACTION_LAYOUTS}")
    if layout == "kinetics400":
        return load_classification(annotations, videos_dir)
    items = []  # (video id, class, candidate paths)
    if layout == "ucf101":
        for line in Path(annotations).read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            relative = line.split()[0]
            label, _, name = relative.rpartition("/")
            if not label:
                raise AnnotationError(f"{annotations}: {relative!r} is not Class/video")
            items.append((Path(name).stem, label, [(label, name), ("", name)]))
    elif layout == "hmdb51":
        wanted = {"train": "1", "test": "2"}[role]
        files = sorted(Path(annotations).glob(f"*_test_split{split}.txt"))
        if not files:
            raise AnnotationError(f"{annotations}: no <class>_test_split{split}.txt files")
        for file in files:
            label = file.name[: -len(f"_test_split{split}.txt")]
            for line in file.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == wanted:
                    items.append((Path(parts[0]).stem, label, [(label, parts[0]), ("", parts[0])]))
    else:  # ssv2
        rows = _read_json(annotations)
        if not isinstance(rows, list) or not all("id" in r and "template" in r for r in rows):
            raise AnnotationError(f"{annotations}: expected Something-Something v2's [{{id, template, ...}}]")
        for row in rows:
            label = row["template"].replace("[", "").replace("]", "")
            items.append((str(row["id"]), label, [("", f"{row['id']}.webm")]))
    if not items:
        raise AnnotationError(f"{annotations}: no videos for the {role} split")
    class_names = tuple(sorted({label for _, label, _ in items}))
    index = {name: i for i, name in enumerate(class_names)}
    found, missing = [], []
    for video, label, candidates in items:
        path = next((p for p in (find_video(videos_dir, name, subfolder=sub) for sub, name in candidates) if p), None)
        (found if path else missing).append((video, index[label], str(path)))
    if not found:
        raise AnnotationError(f"none of the {len(items)} videos of {annotations} is in {videos_dir}")
    return ClassificationSet(
        tuple(v for v, _, _ in found),
        tuple(p for _, _, p in found),
        tuple(i for _, i, _ in found),
        class_names,
        tuple(v for v, _, _ in missing),
    )


def align_classes(*sets: ClassificationSet) -> list:
    """The sets re-indexed on the sorted union of their class names (a test split may lack a class)."""
    names = tuple(sorted({n for s in sets for n in s.class_names}))
    index = {n: i for i, n in enumerate(names)}
    return [s._replace(labels=tuple(index[s.class_names[i]] for i in s.labels), class_names=names) for s in sets]


# --- open-ended video question answering (E-ViLM's MSRVTT-QA, MSVD-QA) --------------------------------


class QuestionSet(NamedTuple):
    video_ids: tuple  # one per question
    video_paths: tuple
    questions: tuple
    answers: tuple  # the answer text of each question
    missing: tuple = ()  # questions whose video is not local (their video ids)


def load_video_qa(annotations, videos_dir) -> QuestionSet:
    """MSRVTT-QA / MSVD-QA ``train_qa.json`` / ``test_qa.json`` ([{"question", "answer", "video_id"}]; a
    numeric video id N is the file ``videoN.*`` (MSRVTT) or ``vidN.*`` (MSVD's renamed clips)), or JSON
    lines with video, question, answer."""
    path = Path(annotations)
    if path.suffix == ".jsonl":
        rows = _read_rows(path)
    else:
        rows = _read_json(path)
    if not isinstance(rows, list) or not rows:
        raise AnnotationError(f"{annotations}: expected a list of questions")
    ids, paths, questions, answers, missing = [], [], [], [], []
    for row in rows:
        video = row.get("video_id", row.get("video"))
        if video is None or "question" not in row or "answer" not in row:
            raise AnnotationError(f"{annotations}: a question lacks video_id, question or answer: {row}")
        names = [f"video{video}", f"vid{video}", str(video)] if str(video).isdigit() else [str(video)]
        found = next((p for p in (find_video(videos_dir, n) for n in names) if p), None)
        if found is None:
            missing.append(str(video))
            continue
        ids.append(str(video))
        paths.append(str(found))
        questions.append(str(row["question"]).strip())
        answers.append(str(row["answer"]).strip().lower())
    if not ids:
        raise AnnotationError(f"none of the videos of {annotations} is in {videos_dir}")
    return QuestionSet(tuple(ids), tuple(paths), tuple(questions), tuple(answers), tuple(missing))
