"""Strict readers of the file formats a release comes in: 2D images (PNG, JPEG, BMP, TIFF), NIfTI volumes, HDF5."""
