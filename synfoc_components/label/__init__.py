"""MONAI Label for the bundles: its own environment, the ``monaibundle`` sample app with the bundles linked in as
``<name>_segmentation``, a datastore from a bundle's data, and the server command.

    python -m synfoc_components.label setup --venv .venv-monailabel --app apps/monaibundle --bundles bundles/prostate
    python -m synfoc_components.label start --venv .venv-monailabel --app apps/monaibundle --studies datasets/prostate

Nothing here imports monailabel: it runs in its own virtual environment (see ``environment``).
"""
