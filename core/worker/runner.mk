# see tests/local.mk for conventions
