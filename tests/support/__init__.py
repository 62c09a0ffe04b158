"""What the tests share besides fixtures: settings, waiting helpers, the raw
socket client and the child-process helpers. Conftest modules hold only
fixtures and import from here."""
