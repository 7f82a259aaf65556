"""Look-back campaigns, re-check tasks, rectification and remediation plans."""
