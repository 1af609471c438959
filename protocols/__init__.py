"""reramlab."""
