from tests.workflow.conftest import staged  # noqa: F401 - the version in staging with passing evidence
