"""The Beam wiring of curation: PTransforms, DoFns, RunInference ModelHandlers and the failure
outputs, over the plain per-element functions of curate.sources, curate.media, curate.text,
curate.models and curate.output. The only package of curate that imports apache_beam."""
