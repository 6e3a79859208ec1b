"""Configuration: the TOML file, its defaults and checks, as typed records."""
