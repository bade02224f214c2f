"""`curate run`'s progress display (issue 23): read from the output folder's committed records, so it
counts what the workers of the multi-process direct runner commit; quiet with --quiet; a line a
minute when the output is not a terminal; the job URL and metrics on Dataflow."""

from __future__ import annotations

import io
import json
import re
import time

import pytest

from curate.__main__ import main
from curate.output.failures import record_failures
from curate.progress import Committed, Progress
from schemas import Failure

LINE = re.compile(
    r"curate: videos (\d+)/(\d+|\?), clips (\d+), failures: (.*?); "
    r"([\d.]+) videos/s, ETA ([\d:?]+)"
)


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture(scope="module")
def watched_run(curated_run):
    """The session's multi-process run (3 videos and a broken file), watched as a terminal would see it:
    (input, output, frames, seconds)."""
    frames = [m.groups() for m in LINE.finditer(curated_run.screen)]
    return curated_run.folder, curated_run.out, frames, curated_run.seconds


def test_a_multi_process_run_shows_videos_clips_and_failures_as_workers_commit_them(watched_run):
    folder, out, frames, seconds = watched_run
    stats = json.loads((out / "stats.json").read_text())
    assert frames[-1][:4] == ("4", "4", str(stats["num_clips"]), "probe 1")
    assert frames[-1][5] == "0:00:00"
    done = [int(f[0]) for f in frames]
    assert done == sorted(done) and done[0] < 4  # seen while the workers were still at it
    assert len({f[0] for f in frames}) >= 3  # updated as videos finished, not only at the end
    assert len(frames) >= seconds / 5  # at least every few seconds


def test_not_a_terminal_gets_a_line_per_interval_and_quiet_gets_nothing(watched_run):
    folder, out, _, _ = watched_run
    log = io.StringIO()
    with Progress(str(out), str(folder), stream=log, poll_s=0.05, log_every_s=0.3):
        time.sleep(1.0)
    lines = log.getvalue().splitlines()
    assert 3 <= len(lines) <= 6 and all(LINE.fullmatch(line) for line in lines), lines
    assert "\r" not in log.getvalue()
    quiet = Terminal()
    with Progress(str(out), str(folder), stream=quiet, quiet=True):
        time.sleep(0.2)
    assert quiet.getvalue() == ""


def test_a_clip_failure_committed_twice_counts_once_and_only_whole_video_failures_end_a_video(tmp_path):
    clip = Failure("v1", "cut", "ffmpeg_error", "boom", "v1_short_00000")
    record_failures(str(tmp_path), [clip, Failure("v2", "download", "http_403", "no")], "1")
    record_failures(str(tmp_path), [clip], "1")
    seen = Committed(str(tmp_path), run_id="1")
    seen.poll()
    assert dict(seen.failures_by_stage) == {"cut": 1, "download": 1}
    assert seen.failed == {"v2"} and seen.done == 1
    # an earlier run's download failure is retried by this one: not done, not this run's failure
    later = Committed(str(tmp_path), run_id="2")
    later.poll()
    assert later.failed == set() and dict(later.failures_by_stage) == {"cut": 1}


def test_quiet_is_an_option_of_run_and_no_setting_of_the_output(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--quiet" in capsys.readouterr().out
    from curate.config import RunConfig
    from curate.output.settings import run_settings

    a, b = RunConfig("vidla", "in", "out"), RunConfig("vidla", "in", "out", quiet=True)
    assert run_settings(a) == run_settings(b)


def test_dataflow_gets_its_job_url_and_local_runners_the_display(capsys):
    from curate.beam.recipe import _print_job_url, _runs_locally, pipeline_options

    assert _runs_locally(pipeline_options([]))
    assert _runs_locally(pipeline_options(["--runner", "PrismRunner"]))
    assert _runs_locally(pipeline_options(["--runner", "direct"]))
    options = pipeline_options(["--runner", "DataflowRunner", "--project", "proj", "--region", "europe-west4"])
    assert not _runs_locally(options)

    class Submitted:  # what DataflowPipelineResult offers
        def job_id(self):
            return "2026-12-07_01_02_03-123"

    _print_job_url(Submitted(), options)
    assert capsys.readouterr().out.strip() == (
        "Dataflow job 2026-12-07_01_02_03-123: https://console.cloud.google.com/dataflow/jobs/europe-west4/"
        "2026-12-07_01_02_03-123?project=proj"
    )


def test_a_video_still_staged_after_its_shard_is_committed_counts_once(tmp_path):
    from factories import committed_output

    from schemas import safe_id

    [sharded] = committed_output(str(tmp_path), 10, clips_per_video=10)
    for video in (sharded, "waiting"):
        folder = tmp_path / ".staging" / safe_id(video)
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text("{}")
    (tmp_path / ".staging" / "being_cut").mkdir()  # no manifest yet: not done
    seen = Committed(str(tmp_path))
    seen.poll()
    assert (seen.clips, seen.videos_in_shards, seen.staged, seen.done) == (10, 1, {"waiting"}, 2)
    (tmp_path / ".staging" / "waiting" / "manifest.json").unlink()
    seen.poll()
    assert seen.done == 1


def test_the_metrics_of_a_finished_job_are_printed(capsys):
    import apache_beam as beam

    from curate.beam.recipe import _print_metrics, pipeline_options

    class Count(beam.DoFn):
        def __init__(self):
            self.seen = beam.metrics.Metrics.counter("cut", "clips_ok")

        def process(self, x):
            self.seen.inc(x)
            yield x

    p = beam.Pipeline(options=pipeline_options([]))
    _ = p | beam.Create([1, 2, 4]) | beam.ParDo(Count())
    result = p.run()
    result.wait_until_finish()
    _print_metrics(result)
    assert capsys.readouterr().out.splitlines() == ["Beam metrics of the job:", "  cut.clips_ok: 7"]
