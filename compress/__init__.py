"""Compression front end: train, prune and quantize a PyTorch model, export the IR.

Importing this package does not import torch; the submodules that need it do.
"""
