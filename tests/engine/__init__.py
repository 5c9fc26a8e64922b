"""Tests of the engine's collaborators, each on its own (no HTTP)."""
