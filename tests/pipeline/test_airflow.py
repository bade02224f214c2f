"""The Airflow DAG: it loads without import errors and a local run (dag.test) curates a small folder.

Airflow's pins conflict with the pipeline's, so it lives in its own venv (.venv-airflow, see
docs/pipeline.md); this test drives that venv's Python in a subprocess and runs the pipeline with
this interpreter, as a deployment would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from samplemedia import make_sample_folder

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_PYTHON = os.path.join(REPO, ".venv-airflow", "bin", "python")

pytestmark = pytest.mark.skipif(
    not os.path.exists(VENV_PYTHON),
    reason="no Airflow venv at .venv-airflow (create it as docs/pipeline.md says to run this test)",
)

SCRIPT = textwrap.dedent("""
    import json, sys
    from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
    dag = bag.get_dag("vidla_curation")
    print("RESULT", json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                                "tasks": sorted(t.task_id for t in dag.tasks)}))
    run = dag.test(run_conf={"input": sys.argv[2], "output": sys.argv[3],
                             "beam_options": {"shard-max-samples": 2}})
    print("RESULT", json.dumps({"state": str(run.state)}))
""")


@pytest.mark.slow
def test_dag_loads_and_runs_a_recipe_locally(tmp_path):
    folder = tmp_path / "videos"
    make_sample_folder(folder, 2, seconds=12, seed=11)
    out = tmp_path / "out"
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=os.path.join(REPO, "dags"),
        VIDLANG_PIPELINE_PYTHON=sys.executable,
        HF_HUB_OFFLINE="1",
    )
    env.pop("PYTHONPATH", None)
    migrate = subprocess.run(
        [os.path.join(REPO, ".venv-airflow", "bin", "airflow"), "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    done = subprocess.run(
        [VENV_PYTHON, "-c", SCRIPT, os.path.join(REPO, "dags", "airflow_vidla.py"), str(folder), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    results = [json.loads(line[len("RESULT ") :]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and len(results) == 2, (done.stdout + done.stderr)[-4000:]
    assert results[0] == {"errors": {}, "tasks": ["check_outputs", "run_recipe"]}
    assert results[1]["state"].endswith("success")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["counts"]["videos_kept"] == 2 and stats["num_clips"] >= 2
    assert sorted(p.name for p in (out / "shards").iterdir())[:2] == ["00000.parquet", "00000.tar"]
