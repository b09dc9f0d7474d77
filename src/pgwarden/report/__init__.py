"""Reporters: markdown, JSON, SARIF and GitHub (PR comment, step summary, annotations)."""
