"""Questions: suites (loading, validation) and grading (answer extraction, equivalence)."""
