"""The runner a pipeline gets when the command line names none."""

# The local default, named: Beam's DirectRunner first tries to download and start the Prism runner
# (from the internet, on every run) and falls back to this in-process runner when that fails. This
# is the engine the tests run on; --direct_num_workers and --direct_running_mode apply to it.
LOCAL_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
