"""asv benchmark suites for detbench; one module per package module (see asv.conf.json)."""
