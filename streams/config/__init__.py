"""Settings (environment, YAML), the admission policy file and the retention policy: validated at start-up."""

__all__ = [
    "access",
    "extract_policy",
    "hit_review",
    "network",
    "retention",
    "review_policy",
    "search_policy",
    "secret_files",
    "settings",
    "yaml_files",
]
