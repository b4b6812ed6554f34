"""Datasets the model learns from and is measured on, beyond MNIST and USPS."""
