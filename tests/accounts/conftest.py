# The role matrix's world (one release with one of everything) is the team-scope tests' too.
from tests.accounts.test_permissions import world  # noqa: F401
