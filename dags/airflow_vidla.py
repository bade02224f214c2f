"""Airflow 3 DAG that runs a curation recipe (vidla by default, or hdvila) with Apache Beam.

The recipe runs through the apache-beam provider's BeamHook inside a task, in a subprocess of the
Python that has this project installed (VIDLANG_PIPELINE_PYTHON, default ``python3``): Airflow's own
pins conflict with the pipeline's, so the two live in separate environments. BeamHook needs no
Google provider (BeamRunPythonPipelineOperator does, even for the DirectRunner). Run it on Dataflow
by triggering with ``runner=DataflowRunner`` and the Dataflow options in ``beam_options``
(docs/pipeline.md).

Trigger: ``airflow dags trigger vidla_curation --conf '{"input": "/data/ytdlp", "output": "/data/out"}'``
"""

from __future__ import annotations

import json
import os
from datetime import datetime

from airflow.sdk import Param, dag, get_current_context, task

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIPELINE_PYTHON = os.environ.get("VIDLANG_PIPELINE_PYTHON", "python3")


@dag(
    dag_id="vidla_curation",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    # one run at a time: two runs into one output (an object store has no lock) would be refused late
    max_active_runs=1,
    tags=["curation", "beam"],
    params={
        "recipe": Param("vidla", enum=["vidla", "hdvila"]),
        "input": Param("", type="string", description="manifest or yt-dlp download folder"),
        "output": Param("", type="string", description="output directory (rerunning resumes)"),
        "runner": Param("DirectRunner", type="string"),
        # recipe options and Beam pipeline options, e.g. {"short-side": 224, "project": "p"}
        "beam_options": Param({}, type="object"),
    },
)
def vidla_curation():
    @task
    def run_recipe() -> str:
        """Run ``python -m dags.<recipe> --input ... --output ... [options]`` under BeamHook."""
        from airflow.providers.apache.beam.hooks.beam import BeamHook

        params = get_current_context()["params"]
        if not params["input"] or not params["output"]:
            raise ValueError("trigger with conf {'input': PATH, 'output': DIR}")
        # the pipeline subprocess imports this repository's packages
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)
        variables = {"input": params["input"], "output": params["output"], **params["beam_options"]}
        BeamHook(runner=params["runner"]).start_python_pipeline(
            variables=variables,
            py_file=f"dags.{params['recipe']}",
            py_options=["-m"],
            py_interpreter=PIPELINE_PYTHON,
        )
        return params["output"]

    @task
    def check_outputs(output: str) -> dict:
        """Fail the run when it produced no clip; return its counts (XCom) for downstream tasks."""
        with open(os.path.join(output, "stats.json")) as f:
            stats = json.load(f)
        if not stats["num_clips"]:
            raise ValueError(f"{output}: the run produced no clip; see {output}/failures.jsonl")
        return {"num_clips": stats["num_clips"], "num_shards": stats["num_shards"], **stats["counts"]}

    check_outputs(run_recipe())


vidla_curation()
