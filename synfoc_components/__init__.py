"""SynFoC components: the shared code behind the SynFoC MONAI bundles.

A foundation model (MedSAM / LiteMedSAM adapted with LoRA) and a U-Net trained from scratch teach each other on
mixed-domain unlabeled images. Sub-packages: ``networks``, ``losses``, ``engines``, ``handlers``, ``transforms``,
``data`` and ``metrics``.
"""

__version__ = "0.1.0"
