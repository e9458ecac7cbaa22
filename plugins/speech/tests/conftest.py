"""Shared settings for arkit-speech's tests: one torch thread."""

import torch

torch.set_num_threads(1)
