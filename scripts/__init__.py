"""Build scripts for the shipped models (not part of the installed library).

``python scripts/build_models.py --help`` is the one entry point; the modules
here are its stages. :mod:`scripts.pairgen` (the synthetic NLI pair generator)
needs neither torch nor onnx and is unit-tested on its own.
"""
