"""fomm_teach: the First Order Motion Model (Siarohin et al., NeurIPS 2019), built chapter by chapter.

The model modules (``blocks``, ``keypoints``, ``motion``, ``dense_motion``, ``generator``,
``discriminator``) are generated from the course notebooks; edit the notebook, then run
``make export``.
"""

__version__ = "0.1.0"
