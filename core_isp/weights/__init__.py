"""Shipped ParamISP weights (fp16 safetensors) and their registry, written by ``tools/ship_default_weights.py``."""
