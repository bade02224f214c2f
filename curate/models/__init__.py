"""The models of curation: ASR (faster-whisper), frame captions (BLIP-2), summaries (an LLM through
vLLM or transformers), their config and its validation. Plain code, no Beam; heavy packages load
lazily."""
