"""Hotline composition root: settings, CLI, event bus and app assembly. Nothing imports it."""
