"""digest: turn saved paper listings into a newsletter of the papers you have not seen."""

__version__ = "0.1.0"
