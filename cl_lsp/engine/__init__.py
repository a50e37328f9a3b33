"""Inference backends: the only code that imports llama_cpp."""
