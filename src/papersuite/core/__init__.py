"""Shared services every paper builds on: files, records, tables, claims, downloads, runtime."""
