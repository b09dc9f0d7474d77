"""Orchestration of one step each: plan, backup, deploy, verify, restore, drill, status."""
