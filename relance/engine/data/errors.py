"""The two errors of running rules on data: data that does not fit the model, and a rule that
could not be evaluated on data that did (rule-file errors are `grammar.diagnostics.RuleSetError`)."""


class DataError(ValueError):
    """Input data that does not fit the data model; the message names the field."""


class EvaluationError(Exception):
    """A condition could not be evaluated on the given data (never raised for null values)."""
