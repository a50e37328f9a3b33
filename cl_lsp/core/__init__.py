"""The pure core: context, prompts, post-processing. Imports no pygls, lsprotocol or llama_cpp."""
