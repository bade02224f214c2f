"""Both recipes translate into a Dataflow job under DataflowRunner options (dry run: nothing is
submitted, no network, no credentials): every stage pickles, every coder resolves, the job uses the
worker container of deploy/Dockerfile. Needs the gcp extra (apache-beam[gcp]), which
scripts/setup.sh installs: without it these tests fail instead of skipping."""

from __future__ import annotations

import apache_beam as beam
import apache_beam.runners.dataflow.internal.apiclient  # noqa: F401 - the gcp extra is installed
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from curate.output.resume import ResumeState
from curate.recipes import recipes
from curate.run import add_arguments, config_from_args

IMAGE = "us-docker.pkg.dev/my-project/vidlang/worker:latest"
DATAFLOW_OPTIONS = [
    "--runner=DataflowRunner",
    "--project=my-project",
    "--region=us-central1",
    "--job_name=vidla-curation",
    "--temp_location=gs://my-bucket/tmp",
    "--staging_location=gs://my-bucket/staging",
    "--sdk_location=container",
    f"--sdk_container_image={IMAGE}",
    "--no_auth",
    "--dry_run=True",
]


@pytest.mark.parametrize("recipe", sorted(recipes()))
def test_recipe_translates_to_a_dataflow_job(recipe):
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser, recipe=recipe)
    args, beam_args = parser.parse_known_args(
        [
            "--input",
            "gs://my-bucket/hdvila_release.jsonl",
            "--output",
            "gs://my-bucket/out",
            *DATAFLOW_OPTIONS,
        ]
    )
    assert beam_args == DATAFLOW_OPTIONS  # the CLI passes Beam's options through untouched
    cfg = config_from_args(recipe, args)

    from curate.beam.recipe import pipeline_options

    p = beam.Pipeline(options=pipeline_options(beam_args))
    recipes()[recipe].build(p, cfg, ResumeState(0))
    result = p.run()  # dry_run: translated into a Dataflow job, not submitted
    job = result.job
    assert job.options.view_as(PipelineOptions).get_all_options()["sdk_container_image"] == IMAGE
    proto = job.proto_pipeline
    names = {t.unique_name for t in proto.components.transforms.values()}
    for stage in (
        "ReadSources",
        "ProbeVideos",
        "FilterVideos",
        "DownloadVideos",
        "MakeTranscripts",
        "PlanClips",
        "CutClips",
        "WriteShards",
        "RecordFailures",
        "FinalizeOutputs",
    ):
        assert stage in names, stage
    # no model given: vidla is subtitle-only and cuts like hdvila (with models:
    # tests/models/test_vidla_remote.py)
    assert "AnnotateClips" not in names
    images = {env.payload for env in proto.components.environments.values()}
    assert any(IMAGE.encode() in payload for payload in images)
