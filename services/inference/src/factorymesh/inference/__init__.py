"""factorymesh inference: feature windows in, model results from NVIDIA Triton out (see README.md)."""
