"""Decision records: immutable recommendations, with later entries appended as new files."""
