"""Shipped deblurring weights: what ``Deblurrer.load()`` and ``paramisp deblur`` without ``--weights`` read.

Each file's metadata holds its full training record (``apps.deblur.read_weights_info(path).training``). In short,
both come from one ``python -m tools.train_deblur`` run at code version ``0.1.0+geea557d``, with the same recipe:
the 0.27 M-parameter :class:`apps.deblur.DeblurNet`, batch 8 of 128-pixel crops, Adam 1e-3 with cosine decay,
exactly 4000 steps, seed 0, 2 CPU cores. Their data: the synth-blur folders ``synth-nikon-d7000`` and
``synth-sony-a7r3``, made from TRAIN-split simulated scenes (manifest SHA-256
``bf27492e05e87ae7f88c5221add49b806336900d557dce908da1847cb5c00ef7``).

* ``deblur-raw.safetensors``: the RAW network (packed Bayer planes), the default; 86 training and 10 held-out
  pairs, 1178 s; held-out L1 0.0152 against the blurry input's 0.0173.
* ``deblur-srgb-synth.safetensors``: the same network in sRGB on synth-blur's sRGB pairs, the baseline
  (``Deblurrer.load(domain="srgb")``); 43 training and 5 held-out pairs, 590 s; held-out L1 0.0224 against 0.0274.

They ship so that the tool runs out of the box, not because they deblur: on blur that simulated cameras really
record, neither beats the blurry input in PSNR (``benchmarks/RESULTS.md``, "Deblurring in RAW"; ``docs/deblur.md``).
"""
